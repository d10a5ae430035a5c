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
}

_CHOICES = {
    "backend": BACKENDS,
    "iptables_variant": ("auto", "nft", "legacy"),
    "log_level": ("debug", "info", "warning", "error"),
}


class Config:
    """Validated settings; attribute per key of :data:`DEFAULTS`."""

    backend: str
    iptables_variant: str
    set_maxelem: int
    default_timeout: int
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

    def __init__(self, values: dict[str, object] | None = None, source: str = "defaults"):
        self.source = source
        values = dict(values or {})
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s): {', '.join(unknown)}")
        for key, (default, types) in DEFAULTS.items():
            value = values.get(key, default)
            if isinstance(value, bool) or not isinstance(value, types):
                raise ConfigError(f"{source}: {key} must be {types[0].__name__}, got {value!r}")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise ConfigError(f"{source}: {key} must be one of {', '.join(_CHOICES[key])}")
            setattr(self, key, list(value) if isinstance(value, list) else value)
        if not all(isinstance(x, str) for x in self.allowlist):
            raise ConfigError(f"{source}: allowlist must be a list of strings")
        if not 1 <= self.set_maxelem <= 2**31 - 1:
            raise ConfigError(f"{source}: set_maxelem must be between 1 and 2147483647")
        if self.default_timeout <= 0:
            raise ConfigError(f"{source}: default_timeout must be positive")
        if not 0 <= self.widest_block_v4 <= 32 or not 0 <= self.widest_block_v6 <= 128:
            raise ConfigError(f"{source}: widest_block_v4/_v6 must be prefix lengths")

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
