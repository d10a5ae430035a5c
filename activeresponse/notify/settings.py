"""The notification settings, checked where messages are made and sent (never on the
agent's path): addresses, the time zone, the SMTP server, the password file."""

from __future__ import annotations

import os
import stat

from ..addresses import printable
from ..config import Config
from ..errors import ConfigError
from . import configured_channels

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
# Characters that would make an address more than one plain addr-spec (lists, display
# names, comments, routes, quoting) or break a header line.
_ADDRESS_BAD = frozenset(' \t\r\n<>,;:"()[]\\')


def host_name() -> str:
    """This host's name, reduced to characters safe in a header and a Message-ID."""
    name = "".join(c for c in os.uname().nodename if c in _NAME_CHARS)[:64]
    return name or "localhost"


def mail_address(text: str, key: str) -> str:
    """A plain ``local@domain`` address, ASCII, nothing that could become a second
    recipient or header. Raises ConfigError naming the setting."""
    bad = (
        not text
        or len(text) > 254
        or not text.isascii()
        or text.count("@") != 1
        or any(c in _ADDRESS_BAD or not c.isprintable() for c in text)
    )
    local, _, domain = text.partition("@")
    if bad or not local or not domain or domain.startswith(".") or domain.endswith("."):
        raise ConfigError(f"{key}: not a plain e-mail address: '{printable(text)}'")
    return text


def timezone(key: str):
    """The admin's time zone (a ZoneInfo), or None for this system's local time zone."""
    if not key:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"notify_timezone: unknown time zone '{printable(key)}' (an IANA name such as "
            "Asia/Tokyo; empty for the system's)"
        ) from None


def read_password(path: str) -> str:
    """The SMTP password from its own file, which only its owner may read."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise ConfigError(f"notify_smtp_password_file {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"notify_smtp_password_file {path}: not a regular file")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"notify_smtp_password_file {path}: readable or writable by group or others "
            f"(mode {st.st_mode & 0o777:o}); fix it with: chmod 600 {path}"
        )
    if st.st_uid not in (0, os.geteuid()):
        raise ConfigError(f"notify_smtp_password_file {path}: owned by uid {st.st_uid}")
    with open(path, encoding="utf-8") as fh:
        return fh.read().rstrip("\r\n")


class Settings:
    """Validated notification settings; raises ConfigError with a one-line reason."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.language = config.notify_language
        self.tz = timezone(config.notify_timezone)
        self.tz_name = config.notify_timezone
        self.subject_prefix = "".join(c for c in config.notify_subject_prefix if c.isprintable())[
            :64
        ]
        self.channels = configured_channels(config)
        self.gather = float(config.notify_gather_seconds)
        self.digest = float(config.notify_digest_seconds)
        self.retry = float(config.notify_retry_seconds)
        self.retry_max = max(float(config.notify_retry_max_seconds), self.retry)
        self.timeout = float(config.notify_timeout)
        self.host = host_name()
        self.config_path = config.source if config.source != "defaults" else ""
        self.command = list(config.notify_command)
        self.to = [mail_address(a, "notify_to") for a in config.notify_to]
        self.cc = [mail_address(a, "notify_cc") for a in config.notify_cc]
        if config.notify_from:
            self.sender = mail_address(config.notify_from, "notify_from")
        else:
            self.sender = mail_address(f"activeresponse@{self.host}", "notify_from (default)")
        self.smtp_host = config.notify_smtp_host
        self.smtp_security = config.notify_smtp_security
        self.smtp_port = config.notify_smtp_port or DEFAULT_PORTS[self.smtp_security]
        self.smtp_user = config.notify_smtp_user
        self.smtp_password_file = config.notify_smtp_password_file
        self.smtp_ca_file = config.notify_smtp_ca_file
        if "email" in self.channels:
            if any(c.isspace() or not c.isprintable() for c in self.smtp_host):
                raise ConfigError(f"notify_smtp_host: '{printable(self.smtp_host)}'")
            if self.smtp_user and not self.smtp_password_file:
                raise ConfigError("notify_smtp_user is set but notify_smtp_password_file is not")
            if (
                self.smtp_user
                and self.smtp_security == "none"
                and self.smtp_host not in _LOCAL_HOSTS
            ):
                raise ConfigError(
                    "refusing to send the SMTP password unencrypted: set notify_smtp_security "
                    'to "starttls" or "tls" (or use a relay on this host)'
                )
            if self.smtp_ca_file and not os.path.isfile(self.smtp_ca_file):
                raise ConfigError(f"notify_smtp_ca_file {self.smtp_ca_file}: no such file")

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]

    def password(self) -> str:
        return read_password(self.smtp_password_file) if self.smtp_password_file else ""
