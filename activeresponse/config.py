"""Configuration: ``/etc/activeresponse/config.toml``, overridden by ``--config PATH`` or
``ACTIVERESPONSE_CONFIG``. Every key, its default and its meaning is documented in
``packaging/config.example.toml``; unknown keys are an error so typos never pass silently.

The agent's executable runs once per alert, and importing a TOML parser (with the re,
enum and typing modules it pulls in) costs it about 12 ms. So the parsed values are
cached in ``/run/activeresponse/config.cache`` (root only, marshal format), keyed by the
config file's path, inode, size and modification time: any edit invalidates it.
"""

from __future__ import annotations

import marshal
import os

from .errors import ConfigError, StateError
from .fileutil import check_private, ensure_dir, write_atomic

DEFAULT_PATH = "/etc/activeresponse/config.toml"
CACHE_PATH = "/run/activeresponse/config.cache"
ENV_VAR = "ACTIVERESPONSE_CONFIG"

BACKENDS = ("auto", "iptables", "ipset", "nftables", "plesk")

# key -> (default, accepted python types). The order is the order of the example file.
DEFAULTS: dict[str, tuple[object, tuple[type, ...]]] = {
    "backend": ("auto", (str,)),
    "iptables_variant": ("auto", (str,)),
    "set_maxelem": (1048576, (int,)),
    "default_timeout": (600, (int,)),
    "admin_block_timeout": (86400, (int,)),
    "auto_set_threshold": (200, (int,)),
    "kill_connections": (True, (bool,)),
    "repeat_window": (86400, (int,)),
    "repeat_multipliers": ([1], (list,)),
    "repeat_max_timeout": (604800, (int,)),
    "lock_timeout": (60.0, (int, float)),
    "allowlist": ([], (list,)),
    "widest_block_v4": (24, (int,)),
    "widest_block_v6": (48, (int,)),
    "agent_root": ("", (str,)),
    "state_dir": ("/var/lib/activeresponse", (str,)),
    "lock_file": ("/run/activeresponse/lock", (str,)),
    "log_file": ("/var/log/activeresponse/activeresponse.log", (str,)),
    "log_level": ("info", (str,)),
    "ar_log_file": ("/var/log/activeresponse/active-responses.log", (str,)),
    "plesk_root": ("/", (str,)),
    # Notifications (activeresponse/notify/): off unless enabled.
    "notify_enabled": (False, (bool,)),
    "notify_events": (["block"], (list,)),
    "notify_language": ("en", (str,)),
    "notify_timezone": ("", (str,)),
    "notify_subject_prefix": ("[activeresponse]", (str,)),
    "notify_from": ("", (str,)),
    "notify_to": ([], (list,)),
    "notify_cc": ([], (list,)),
    "notify_smtp_host": ("", (str,)),
    "notify_smtp_port": (0, (int,)),
    "notify_smtp_security": ("starttls", (str,)),
    "notify_smtp_user": ("", (str,)),
    "notify_smtp_password_file": ("", (str,)),
    "notify_smtp_ca_file": ("", (str,)),
    "notify_command": ([], (list,)),
    "notify_timeout": (30, (int, float)),
    "notify_background": (True, (bool,)),
    "notify_gather_seconds": (10, (int, float)),
    "notify_digest_seconds": (300, (int, float)),
    "notify_retry_seconds": (60, (int, float)),
    "notify_retry_max_seconds": (3600, (int, float)),
}

NOTIFY_EVENTS = ("block", "unblock", "expire")

_CHOICES = {
    "backend": BACKENDS,
    "iptables_variant": ("auto", "nft", "legacy"),
    "log_level": ("debug", "info", "warning", "error"),
    "notify_language": ("en", "ja"),
    "notify_smtp_security": ("starttls", "tls", "none"),
}


class Config:
    """Validated settings; attribute per key of :data:`DEFAULTS`."""

    backend: str
    iptables_variant: str
    set_maxelem: int
    default_timeout: int
    admin_block_timeout: int
    auto_set_threshold: int
    kill_connections: bool
    repeat_window: int
    repeat_multipliers: list[float]
    repeat_max_timeout: int
    lock_timeout: float
    allowlist: list[str]
    widest_block_v4: int
    widest_block_v6: int
    agent_root: str
    state_dir: str
    lock_file: str
    log_file: str
    log_level: str
    ar_log_file: str
    plesk_root: str
    notify_enabled: bool
    notify_events: list[str]
    notify_language: str
    notify_timezone: str
    notify_subject_prefix: str
    notify_from: str
    notify_to: list[str]
    notify_cc: list[str]
    notify_smtp_host: str
    notify_smtp_port: int
    notify_smtp_security: str
    notify_smtp_user: str
    notify_smtp_password_file: str
    notify_smtp_ca_file: str
    notify_command: list[str]
    notify_timeout: float
    notify_background: bool
    notify_gather_seconds: float
    notify_digest_seconds: float
    notify_retry_seconds: float
    notify_retry_max_seconds: float

    def __init__(self, values: dict[str, object] | None = None, source: str = "defaults"):
        self.source = source
        values = dict(values or {})
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s): {', '.join(unknown)}")
        for key, (default, types) in DEFAULTS.items():
            value = values.get(key, default)
            if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
                raise ConfigError(f"{source}: {key} must be {types[0].__name__}, got {value!r}")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise ConfigError(f"{source}: {key} must be one of {', '.join(_CHOICES[key])}")
            setattr(self, key, list(value) if isinstance(value, list) else value)
        if not all(isinstance(x, str) for x in self.allowlist):
            raise ConfigError(f"{source}: allowlist must be a list of strings")
        if not 1 <= self.set_maxelem <= 2**31 - 1:
            raise ConfigError(f"{source}: set_maxelem must be between 1 and 2147483647")
        for key in ("default_timeout", "admin_block_timeout", "repeat_max_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{source}: {key} must be positive")
        if self.repeat_window < 0:
            raise ConfigError(f"{source}: repeat_window must not be negative")
        if not self.repeat_multipliers or not all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and m >= 1
            for m in self.repeat_multipliers
        ):
            raise ConfigError(f"{source}: repeat_multipliers must be a list of numbers >= 1")
        if not 0 <= self.widest_block_v4 <= 32 or not 0 <= self.widest_block_v6 <= 128:
            raise ConfigError(f"{source}: widest_block_v4/_v6 must be prefix lengths")
        self._check_notify(source)

    def _check_notify(self, source: str) -> None:
        """Cheap shape checks only: addresses, the time zone and files are checked where
        notifications are sent (``activeresponse notify test`` shows every problem)."""
        for key in ("notify_events", "notify_to", "notify_cc", "notify_command"):
            if not all(isinstance(x, str) and x for x in getattr(self, key)):
                raise ConfigError(f"{source}: {key} must be a list of non-empty strings")
        bad = sorted(set(self.notify_events) - set(NOTIFY_EVENTS))
        if bad:
            raise ConfigError(
                f"{source}: notify_events: unknown event(s) {', '.join(bad)} "
                f"(known: {', '.join(NOTIFY_EVENTS)})"
            )
        if not 0 <= self.notify_smtp_port <= 65535:
            raise ConfigError(f"{source}: notify_smtp_port must be 0..65535")
        for key in (
            "notify_timeout",
            "notify_gather_seconds",
            "notify_digest_seconds",
            "notify_retry_seconds",
            "notify_retry_max_seconds",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"{source}: {key} must not be negative")
        if self.notify_timeout == 0 or self.notify_retry_seconds == 0:
            raise ConfigError(f"{source}: notify_timeout and notify_retry_seconds must be > 0")

    @property
    def notify_spool_path(self) -> str:
        return os.path.join(self.state_dir, "notify.sqlite3")

    @property
    def notify_lock_path(self) -> str:
        """The sender's lock: one sender at a time (agent-started, cron or CLI)."""
        return os.path.join(os.path.dirname(self.lock_file) or ".", "notify.lock")

    @property
    def ledger_path(self) -> str:
        return os.path.join(self.state_dir, "ledger.sqlite3")


def _parse_toml(path: str) -> dict[str, object]:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _cached(identity: tuple) -> dict[str, object] | None:
    try:
        check_private(CACHE_PATH, what="config cache")
        fd = os.open(CACHE_PATH, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            key, values = marshal.loads(fh.read())
    except (OSError, StateError, ValueError, EOFError, TypeError):
        return None
    return values if key == identity and isinstance(values, dict) else None


def _store(identity: tuple, values: dict[str, object]) -> None:
    if os.geteuid() != 0:
        return
    try:
        ensure_dir(os.path.dirname(CACHE_PATH), 0o755)
        write_atomic(CACHE_PATH, marshal.dumps((identity, values)), 0o600)
    except (OSError, StateError, ValueError):
        pass  # a cache, nothing more


def load(path: str | None = None) -> Config:
    """Load the configuration. An explicitly named file must exist; the default one may be
    absent (then every default applies)."""
    explicit = path or os.environ.get(ENV_VAR) or None
    path = explicit or DEFAULT_PATH
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"config file not found: {path}")
        return Config()
    try:
        check_private(path, what="config file")
    except StateError as exc:
        raise ConfigError(str(exc)) from None
    identity = _identity(path)
    values = _cached(identity)
    if values is None:
        values = _parse_toml(path)
        _store(identity, values)
    return Config(values, source=path)
