"""Firewall backends and the choice between them."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import Backend


def select(config: Config) -> Backend:
    """The backend the config asks for. ``auto``: Plesk's custom rules when the Plesk
    Firewall is active (it wipes plain iptables rules at every apply), else iptables."""
    name = config.backend
    if name == "auto":
        from plesk.detect import firewall_active

        name = "plesk" if firewall_active(config.plesk_root) else "iptables"
    if name == "iptables":
        from .iptables import IptablesBackend

        return IptablesBackend(config.iptables_variant)
    if name == "plesk":
        from plesk.backend import PleskBackend

        return PleskBackend.from_config(config)
    raise ConfigError(f"backend {name!r} is not available in this version")
