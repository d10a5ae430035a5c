"""Fake Plesk installations for tests: the files our detection and agent-logs read, and
the simulated firewall CLI installed where Plesk puts its own.

Versions 11.0, 12.5 and 18.0, Debian (``/opt/psa``) or RHEL (``/usr/local/psa``) layout,
a few domains with their vhost logs (``<vhosts>/<domain>/statistics/logs/`` up to 11.0,
``<vhosts>/system/<domain>/logs/`` from 11.5), nginx in front of Apache or not, and the
distribution's system logs. The CLI is ``/usr/sbin/plesk`` (12.5 and 18.0) and
``<product root>/bin/modules/firewall/settings`` (11.0 and 12.5): small shell wrappers
that run tests/plesk_sim/plesk with ``PLESK_SIM_ROOT`` set to the tree.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from .simcli import initial_state

SIM = Path(__file__).resolve().parent / "plesk"

VERSIONS = {
    "11.0": {"debian": "11.0.9 Debian 6.0 110120608.16", "rhel": "11.0.9 CentOS 6 110120608.16"},
    "12.5": {
        "debian": "12.5.30 Ubuntu 14.04 1205150826.16",
        "rhel": "12.5.30 CentOS 7 1205150826.16",
    },
    "18.0": {
        "debian": "18.0.61 Debian 12.0 1800240418.12",
        "rhel": "18.0.61 AlmaLinux 9.3 1800240418.12",
    },
}
PRODUCT_ROOT = {"debian": "/opt/psa", "rhel": "/usr/local/psa"}
SYSTEM_LOGS = {
    "debian": [
        "/var/log/auth.log",
        "/var/log/mail.log",
        "/var/log/syslog",
        "/var/log/apache2/access.log",
        "/var/log/apache2/error.log",
    ],
    "rhel": [
        "/var/log/secure",
        "/var/log/maillog",
        "/var/log/messages",
        "/var/log/httpd/access_log",
        "/var/log/httpd/error_log",
    ],
}
NGINX_LOGS = ["/var/log/nginx/access.log", "/var/log/nginx/error.log"]
VHOST_LOGS = ["access_log", "access_ssl_log", "error_log"]
PROXY_LOGS = ["proxy_access_log", "proxy_access_ssl_log", "proxy_error_log"]
DOMAINS = ("example.com", "shop.example.net", "xn--bcher-kva.example")


class FakePlesk:
    def __init__(
        self, root: Path, version: str, layout: str, domains: tuple[str, ...], nginx: bool
    ) -> None:
        self.root = root
        self.version = version
        self.layout = layout
        self.domains = domains
        self.nginx = nginx
        self.product_root = PRODUCT_ROOT[layout]
        self.vhosts = "/var/www/vhosts"

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    @property
    def fw(self) -> Path:
        return self.path(f"{self.product_root}/var/modules/firewall")

    @property
    def split_logs(self) -> bool:
        return self.version != "11.0"

    @property
    def cli(self) -> list[str]:
        """The Firewall CLI argv detection should find."""
        if self.version == "18.0":
            return [str(self.path("/usr/sbin/plesk")), "ext", "firewall"]
        return [str(self.path(f"{self.product_root}/bin/modules/firewall/settings"))]

    @property
    def env(self) -> dict[str, str]:
        """Environment to run tests/plesk_sim/plesk directly against this tree."""
        return {"PLESK_SIM_ROOT": str(self.root)}

    def vhost_log_dir(self, domain: str) -> str:
        if self.split_logs:
            return f"{self.vhosts}/system/{domain}/logs"
        return f"{self.vhosts}/{domain}/statistics/logs"

    # -- simulator knobs and records ------------------------------------------------------

    def configure(self, **knobs: float) -> None:
        """``apply_seconds``, ``cli_seconds``, ``fail_apply`` (see simcli)."""
        path = self.fw / "sim-config.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(knobs)
        path.write_text(json.dumps(current))

    def state(self) -> dict:
        return json.loads((self.fw / "sim-state.json").read_text())

    def custom_rules(self) -> list[dict]:
        return [r for r in self.state()["rules"] if r["class"] == "custom"]

    def _records(self, name: str) -> list[dict]:
        path = self.fw / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def applies(self) -> list[dict]:
        """Finished applies (start, end, ok) in start order; refused ones excluded."""
        done = [r for r in self._records("sim-applies.jsonl") if not r.get("refused")]
        return sorted(done, key=lambda r: r["start"])

    def refused_applies(self) -> list[dict]:
        return [r for r in self._records("sim-applies.jsonl") if r.get("refused")]

    def calls(self) -> list[dict]:
        return self._records("sim-calls.jsonl")


def _write(path: Path, text: str = "", mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _wrapper(path: Path, root: Path, program: str, version: str) -> None:
    _write(
        path,
        "#!/bin/sh\n"
        f"PLESK_SIM_ROOT={shlex.quote(str(root))} PLESK_SIM_PROGRAM={program} "
        f"PLESK_SIM_VERSION={shlex.quote(version)} "
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(SIM))} "$@"\n',
        0o755,
    )


def make_tree(
    root: Path,
    version: str = "18.0",
    layout: str = "debian",
    *,
    domains: tuple[str, ...] = DOMAINS,
    nginx: bool = True,
    firewall: bool = True,
    active: bool = True,
    system_logs: bool = True,
    forward_policy: str = "allow",
    psa_conf: bool = True,
) -> FakePlesk:
    """Build a fake Plesk ``version`` (11.0, 12.5, 18.0) in ``layout`` (debian, rhel)."""
    fake = FakePlesk(root, version, layout, domains, nginx)
    product = fake.product_root
    if psa_conf:
        _write(
            fake.path("/etc/psa/psa.conf"),
            "#\n# Plesk configuration (fake tree for tests)\n#\n"
            f"PRODUCT_ROOT_D\t\t\t{product}\n"
            f"HTTPD_VHOSTS_D\t\t\t{fake.vhosts}\n"
            f"PLESK_MAILNAMES_D\t\t/var/qmail/mailnames\n",
        )
    if layout == "debian":
        _write(fake.path("/etc/debian_version"), "12.5\n")
    else:
        _write(fake.path("/etc/redhat-release"), "AlmaLinux release 9.3 (Shamrock Pink Lynx)\n")
    _write(fake.path(f"{product}/version"), VERSIONS[version][layout] + "\n")
    if version != "11.0":
        _wrapper(fake.path("/usr/sbin/plesk"), root, "plesk", VERSIONS[version][layout])
    if firewall:
        if version == "18.0":
            fake.path(f"{product}/admin/plib/modules/firewall").mkdir(parents=True)
        else:
            settings = fake.path(f"{product}/bin/modules/firewall/settings")
            _wrapper(settings, root, "settings", VERSIONS[version][layout])
        fake.fw.mkdir(parents=True, exist_ok=True)
        (fake.fw / "sim-state.json").write_text(json.dumps(initial_state(forward_policy)))
        fake.configure(apply_seconds=0.3)
        if active:
            _write(fake.fw / "firewall-active.sh", "#!/bin/sh\n# applied by the simulator\n")
    for domain in domains:
        logs = fake.path(fake.vhost_log_dir(domain))
        names = VHOST_LOGS + (PROXY_LOGS if nginx else [])
        for name in names:
            _write(logs / name, f"{domain} {name}\n")
        fake.path(f"{fake.vhosts}/{domain}/httpdocs").mkdir(parents=True, exist_ok=True)
    # Directories in the vhosts tree that are not domains.
    for other in ("default/htdocs", "chroot/bin", ".skel/0"):
        fake.path(f"{fake.vhosts}/{other}").mkdir(parents=True, exist_ok=True)
    if nginx:
        fake.path("/etc/nginx/plesk.conf.d/vhosts").mkdir(parents=True, exist_ok=True)
        for log in NGINX_LOGS:
            _write(fake.path(log))
    if system_logs:
        for log in SYSTEM_LOGS[layout]:
            _write(fake.path(log))
    return fake
