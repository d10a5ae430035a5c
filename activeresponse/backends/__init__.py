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


SET_BACKENDS = ("ipset", "nftables")


def auto_choice(config: Config, sticky: str | None = None) -> tuple[str, str]:
    """What ``backend = "auto"`` means on this host, and why.

    ``sticky`` is the set backend auto moved to earlier (the block count outgrew
    ``auto_set_threshold``, or ``activeresponse migrate``); it stays, so the choice never
    flips back and forth with the count.
    """
    from plesk.detect import firewall_active

    if firewall_active(config.plesk_root):
        return "plesk", "the Plesk Firewall is active and rebuilds iptables at every apply"
    if sticky in SET_BACKENDS:
        return sticky, "chosen earlier for a large number of blocks (or by migrate)"
    if which("iptables") is None and which("nft") is not None:
        return "nftables", "this host has nft and no iptables"
    return "iptables", (
        f"per-address rules while there are at most {config.auto_set_threshold} blocks; "
        "the expiry sweep moves to a set backend beyond"
    )


def set_backend_here() -> str:
    """The set backend auto grows into: ipset where it is installed (admins keep seeing
    everything with iptables -L), else nftables."""
    return "ipset" if which("ipset") and which("iptables") else "nftables"


def select(config: Config, sticky: str | None = None, name: str | None = None) -> Backend:
    """The backend ``name`` (default: the config's; ``auto``: see :func:`auto_choice`)."""
    name = name or config.backend
    if name == "auto":
        name = auto_choice(config, sticky)[0]
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
