"""Firewall backends and the choice between them."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import Backend


def select(config: Config) -> Backend:
    """The backend the config asks for (``auto``: iptables for now)."""
    name = config.backend
    if name in ("auto", "iptables"):
        from .iptables import IptablesBackend

        return IptablesBackend(config.iptables_variant)
    raise ConfigError(f"backend {name!r} is not available in this version")
