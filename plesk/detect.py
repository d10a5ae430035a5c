"""Is this a Plesk server, which version, where does it live, and how is its firewall driven.

Facts used (design.md section 4):

- ``/etc/psa/psa.conf`` holds ``KEY value`` lines; ``PRODUCT_ROOT_D`` is the product root
  (``/usr/local/psa`` on RHEL-like systems, ``/opt/psa`` on Debian-like ones) and
  ``HTTPD_VHOSTS_D`` the virtual hosts directory (``/var/www/vhosts``);
- ``<product root>/version`` reads like ``18.0.61 Debian 12.0 1800240418.12``;
  ``plesk version`` prints ``Product version: ...`` when that file is missing;
- the Firewall CLI is ``plesk ext firewall`` from Plesk 17 (Onyx) on, and
  ``<product root>/bin/modules/firewall/settings`` before;
- a confirmed apply leaves ``<product root>/var/modules/firewall/firewall-active.sh``:
  we take its presence to mean the Plesk firewall is active.

Every path is read under ``root`` (default ``/``) so tests point it at a fake tree; the
paths reported (``product_root``, ``vhosts``) are the host's own, without the prefix.
"""

from __future__ import annotations

import os

from activeresponse.errors import CommandError
from activeresponse.runner import run, which

PSA_CONF = "/etc/psa/psa.conf"
DEBIAN_PRODUCT_ROOT = "/opt/psa"
RHEL_PRODUCT_ROOT = "/usr/local/psa"
DEFAULT_VHOSTS = "/var/www/vhosts"
PLESK_EXE = "/usr/sbin/plesk"
EXT_CLI_SINCE = (17, 0)  # Onyx: `plesk ext firewall`
SPLIT_VHOST_LOGS_SINCE = (11, 5)  # logs under <vhosts>/system/<domain>/logs/

_DEBIAN_WORDS = ("debian", "ubuntu")
_RHEL_WORDS = ("centos", "red hat", "redhat", "rhel", "cloudlinux", "almalinux", "rocky")


def under(root: str, path: str) -> str:
    """``path`` (absolute, as on the host) inside the tree rooted at ``root``."""
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def parse_psa_conf(text: str) -> dict[str, str]:
    """``KEY value`` lines; ``#`` comments and blank lines ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split(None, 1)
        values[key] = rest[0].strip() if rest else ""
    return values


def parse_version(text: str) -> tuple[tuple[int, ...] | None, str]:
    """``(version, os)`` from a version file (``18.0.61 Debian 12.0 1800240418.12``) or
    from ``plesk version`` output (a ``Product version:`` line)."""
    for line in text.splitlines():
        if ":" in line:
            key, _, rest = line.partition(":")
            if key.strip().lower() != "product version":
                continue
            line = rest
        words = line.split()
        for i, word in enumerate(words):
            version = _version_tuple(word)
            if version is not None:
                tail = words[i + 1 :]
                os_words = tail[:-1] if tail and tail[-1].replace(".", "").isdigit() else tail
                return version, " ".join(os_words)
    return None, ""


def _version_tuple(word: str) -> tuple[int, ...] | None:
    parts = word.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(65536)
    except OSError:
        return None


class PleskInfo:
    """What :func:`detect` found. ``cli`` is the Firewall CLI argv, or None."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.present = False
        self.version: tuple[int, ...] | None = None
        self.os_name = ""
        self.layout: str | None = None  # "debian" or "rhel"
        self.product_root = ""
        self.vhosts = DEFAULT_VHOSTS
        self.firewall_installed = False
        self.firewall_active = False
        self.cli: list[str] | None = None

    def path(self, host_path: str) -> str:
        """A host path inside the detected tree (the root prefix applied)."""
        return under(self.root, host_path)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown version"

    @property
    def split_vhost_logs(self) -> bool:
        """Plesk >= 11.5 keeps a domain's logs in ``<vhosts>/system/<domain>/logs/``."""
        return self.version is None or self.version >= SPLIT_VHOST_LOGS_SINCE

    @property
    def firewall_state(self) -> str:
        if not self.firewall_installed:
            return "not installed"
        return "active" if self.firewall_active else "installed, not active"

    def describe(self) -> str:
        """One line for ``activeresponse status``."""
        if not self.present:
            return "no Plesk"
        on = f" on {self.os_name}" if self.os_name else ""
        layout = {"debian": "Debian", "rhel": "RHEL"}.get(self.layout or "", "unknown")
        cli = f" via {' '.join(self.cli)}" if self.cli else ""
        return (
            f"Plesk {self.version_text}{on} ({layout} layout, {self.product_root}, vhosts "
            f"{self.vhosts}); firewall {self.firewall_state}{cli}"
        )

    def __repr__(self) -> str:
        return f"PleskInfo({self.describe()!r})"


def _layout(root: str, product_root: str, os_name: str) -> str | None:
    if os.path.exists(under(root, "/etc/debian_version")):
        return "debian"
    if os.path.exists(under(root, "/etc/redhat-release")):
        return "rhel"
    if product_root == DEBIAN_PRODUCT_ROOT:
        return "debian"
    if product_root == RHEL_PRODUCT_ROOT:
        return "rhel"
    lowered = os_name.lower()
    if any(w in lowered for w in _DEBIAN_WORDS):
        return "debian"
    if any(w in lowered for w in _RHEL_WORDS):
        return "rhel"
    return None


def plesk_executable(root: str) -> str | None:
    """``/usr/sbin/plesk`` in the tree; on the real root also ``plesk`` on PATH."""
    inside = under(root, PLESK_EXE)
    if os.access(inside, os.X_OK):
        return inside
    return which("plesk") if root in ("", "/") else None


def detect(root: str = "/", *, ask_cli: bool = True) -> PleskInfo:
    """Detect Plesk in the tree at ``root``. With ``ask_cli``, a missing version file is
    made up for by running ``plesk version`` (slow; never needed on a normal install)."""
    info = PleskInfo(root)
    conf_text = _read(under(root, PSA_CONF))
    conf = parse_psa_conf(conf_text) if conf_text is not None else {}
    product_root = conf.get("PRODUCT_ROOT_D", "")
    if not product_root:
        for candidate in (DEBIAN_PRODUCT_ROOT, RHEL_PRODUCT_ROOT):
            if os.path.exists(under(root, f"{candidate}/version")):
                product_root = candidate
                break
    if conf_text is None and not product_root:
        return info
    info.present = True
    version_text = _read(under(root, f"{product_root}/version")) if product_root else None
    exe = plesk_executable(root)
    if version_text is None and ask_cli and exe is not None:
        try:
            version_text = run([exe, "version"], timeout=60).stdout
        except CommandError:
            version_text = None
    if version_text:
        info.version, info.os_name = parse_version(version_text)
    if not product_root:
        guess = _layout(root, "", info.os_name)
        product_root = DEBIAN_PRODUCT_ROOT if guess == "debian" else RHEL_PRODUCT_ROOT
    info.product_root = product_root
    info.vhosts = conf.get("HTTPD_VHOSTS_D") or DEFAULT_VHOSTS
    info.layout = _layout(root, product_root, info.os_name)
    _detect_firewall(info, exe)
    return info


def _detect_firewall(info: PleskInfo, exe: str | None) -> None:
    settings = info.path(f"{info.product_root}/bin/modules/firewall/settings")
    has_settings = os.access(settings, os.X_OK)
    extension = os.path.isdir(info.path(f"{info.product_root}/admin/plib/modules/firewall"))
    modern = info.version is None or info.version >= EXT_CLI_SINCE
    if modern and exe is not None and extension:
        info.cli = [exe, "ext", "firewall"]
    elif has_settings:
        info.cli = [settings]
    info.firewall_installed = info.cli is not None
    info.firewall_active = info.firewall_installed and os.path.exists(
        info.path(f"{info.product_root}/var/modules/firewall/firewall-active.sh")
    )


def firewall_active(root: str = "/") -> bool:
    """Whether this host runs Plesk with its firewall installed and active: then plain
    iptables rules are wiped at every Plesk apply, and ``backend = "auto"`` should pick the
    Plesk backend. Cheap when there is no Plesk (two ``stat`` calls, no command run)."""
    info = detect(root, ask_cli=False)
    return info.firewall_installed and info.firewall_active
