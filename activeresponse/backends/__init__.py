"""Firewall backends and the choice between them."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import Backend


def select(config: Config) -> Backend:
    """The backend the config asks for (``auto``: iptables for now; ``plesk``: the Plesk
    Firewall's custom rules, see plesk/backend.py)."""
    name = config.backend
    if name in ("auto", "iptables"):
        from .iptables import IptablesBackend

        return IptablesBackend(config.iptables_variant)
    if name == "plesk":
        from plesk.backend import PleskBackend

        return PleskBackend.from_config(config)
    raise ConfigError(f"backend {name!r} is not available in this version")
