"""Firewall backends and the choice between them."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError, FirewallError
from ..runner import which
from .base import Backend

# program -> the Debian package that provides it
_PACKAGES = {"ipset": "ipset", "nft": "nftables"}


def require(program: str) -> None:
    """Raise a FirewallError naming the package to install if ``program`` is missing."""
    if which(program) is None:
        raise FirewallError(f"{program} not found: install the {_PACKAGES[program]} package")


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
    if name == "ipset":
        from .ipset import IpsetBackend

        require("ipset")
        return IpsetBackend(config.iptables_variant, config.set_maxelem)
    if name == "nftables":
        from .nftables import NftablesBackend

        require("nft")
        return NftablesBackend(config.set_maxelem)
    raise ConfigError(f"backend {name!r} is not available in this version")
