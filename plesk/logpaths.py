"""The log files an OSSEC/Wazuh agent should monitor on this host, as ``<localfile>`` blocks.

System logs under the distribution's own names, listed only if they exist:

=========  ===========================  ===============================
kind       RHEL-like                    Debian-like
=========  ===========================  ===============================
login      /var/log/secure              /var/log/auth.log
mail       /var/log/maillog             /var/log/mail.log
system     /var/log/messages            /var/log/syslog
web        /var/log/httpd/access_log    /var/log/apache2/access.log
web        /var/log/httpd/error_log     /var/log/apache2/error.log
web        /var/log/nginx/access.log, /var/log/nginx/error.log (both)
=========  ===========================  ===============================

Log format: ``syslog`` for login, mail and system logs, ``apache`` for web logs.

On Plesk, every domain's vhost logs: ``access_log``, ``access_ssl_log``, ``error_log``,
plus ``proxy_access_log``, ``proxy_access_ssl_log``, ``proxy_error_log`` when nginx fronts
Apache (Plesk's nginx configuration directory exists, or the domain already has a proxy
log). Their directory depends on the version: ``<vhosts>/<domain>/statistics/logs/`` up
to Plesk 11.0, ``<vhosts>/system/<domain>/logs/`` from 11.5. They are listed whether or
not they exist yet: Plesk creates them with the domain's first request (an SSL log with
its first HTTPS request), and the agent picks them up once they do.
"""

from __future__ import annotations

import os

from .detect import PleskInfo, detect, under

SYSLOG, APACHE = "syslog", "apache"

SYSTEM_LOGS = {
    "rhel": (
        ("login", "/var/log/secure"),
        ("mail", "/var/log/maillog"),
        ("system", "/var/log/messages"),
        ("web", "/var/log/httpd/access_log"),
        ("web", "/var/log/httpd/error_log"),
    ),
    "debian": (
        ("login", "/var/log/auth.log"),
        ("mail", "/var/log/mail.log"),
        ("system", "/var/log/syslog"),
        ("web", "/var/log/apache2/access.log"),
        ("web", "/var/log/apache2/error.log"),
    ),
}
NGINX_LOGS = (("web", "/var/log/nginx/access.log"), ("web", "/var/log/nginx/error.log"))
VHOST_LOGS = ("access_log", "access_ssl_log", "error_log")
PROXY_LOGS = ("proxy_access_log", "proxy_access_ssl_log", "proxy_error_log")
PLESK_NGINX_CONF = "/etc/nginx/plesk.conf.d"


class LogFile:
    """One log to monitor: where (host path), its ``<log_format>``, and why."""

    __slots__ = ("domain", "kind", "location", "log_format")

    def __init__(self, location: str, log_format: str, kind: str, domain: str = "") -> None:
        self.location = location
        self.log_format = log_format
        self.kind = kind
        self.domain = domain

    def block(self, indent: str = "  ", unit: str = "  ", newline: str = "\n") -> str:
        """The ``<localfile>`` block, each line ending in ``newline``."""
        inner = indent + unit
        return newline.join(
            (
                f"{indent}<localfile>",
                f"{inner}<log_format>{self.log_format}</log_format>",
                f"{inner}<location>{_escape(self.location)}</location>",
                f"{indent}</localfile>",
                "",
            )
        )

    def as_dict(self) -> dict[str, str]:
        out = {"location": self.location, "log_format": self.log_format, "kind": self.kind}
        if self.domain:
            out["domain"] = self.domain
        return out

    def __repr__(self) -> str:
        return f"LogFile({self.location!r}, {self.log_format!r})"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _distribution(root: str, info: PleskInfo | None) -> str | None:
    if info is not None and info.layout:
        return info.layout
    if os.path.exists(under(root, "/etc/debian_version")):
        return "debian"
    if os.path.exists(under(root, "/etc/redhat-release")):
        return "rhel"
    return None


def system_logs(root: str = "/", layout: str | None = None) -> list[LogFile]:
    """Login, mail, system and web logs of this distribution (both kinds of names when
    it is unknown) that exist."""
    layouts = [layout] if layout in SYSTEM_LOGS else ["rhel", "debian"]
    candidates = [entry for name in layouts for entry in SYSTEM_LOGS[name]] + list(NGINX_LOGS)
    return [
        LogFile(path, SYSLOG if kind in ("login", "mail", "system") else APACHE, kind)
        for kind, path in candidates
        if os.path.isfile(under(root, path))
    ]


def plesk_domains(info: PleskInfo) -> list[str]:
    """Domains with a log directory in this Plesk version's layout, sorted."""
    if info.split_vhost_logs:
        base = info.path(f"{info.vhosts}/system")
        wanted = ("logs",)
    else:
        base = info.path(info.vhosts)
        wanted = ("statistics", "logs")
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return sorted(
        name
        for name in names
        if not name.startswith(".") and os.path.isdir(os.path.join(base, name, *wanted))
    )


def vhost_log_dir(info: PleskInfo, domain: str) -> str:
    if info.split_vhost_logs:
        return f"{info.vhosts}/system/{domain}/logs"
    return f"{info.vhosts}/{domain}/statistics/logs"


def vhost_logs(info: PleskInfo) -> list[LogFile]:
    if not info.present:
        return []
    nginx = os.path.isdir(info.path(PLESK_NGINX_CONF))
    out = []
    for domain in plesk_domains(info):
        directory = vhost_log_dir(info, domain)
        proxied = nginx or os.path.exists(info.path(f"{directory}/proxy_access_log"))
        for name in VHOST_LOGS + (PROXY_LOGS if proxied else ()):
            out.append(LogFile(f"{directory}/{name}", APACHE, "vhost", domain))
    return out


def agent_logs(root: str = "/", info: PleskInfo | None = None) -> tuple[PleskInfo, list[LogFile]]:
    """Plesk detection and every log an agent on this host should monitor."""
    if info is None:
        info = detect(root)
    logs = system_logs(root, _distribution(root, info)) + vhost_logs(info)
    unique: dict[str, LogFile] = {}
    for log in logs:
        unique.setdefault(log.location, log)
    return info, list(unique.values())
