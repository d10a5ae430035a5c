"""The guard: what must never be blocked.

Every request passes here before the ledger or the kernel is touched. A refusal raises
:class:`Refused` with a one-line reason and changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from .errors import Refused

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPAddress, IPNetwork

# Ranges no host ever needs to block, by reason. Loopback is checked first: it is the
# classic way to lock a server out of itself.
_SPECIAL: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("loopback", (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))),
    (
        "unspecified",
        (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128")),
    ),
    ("multicast", (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8"))),
    ("broadcast", (ipaddress.ip_network("255.255.255.255/32"),)),
    ("link-local", (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))),
)


def _overlaps(net: IPNetwork, other: IPNetwork) -> bool:
    return net.version == other.version and net.overlaps(other)  # type: ignore[arg-type]


def _contains_any(net: IPNetwork, addresses: Iterable[IPAddress]) -> IPAddress | None:
    for addr in addresses:
        if addr.version == net.version and addr in net:
            return addr
    return None


class Guard:
    """Decides whether a network may be blocked.

    ``interfaces`` is called lazily (only when the cheap checks pass) and returns the
    host's (addresses, broadcast addresses); it is read fresh per request so addresses
    added after start-up are protected too.
    """

    def __init__(
        self,
        *,
        allowlist: Iterable[IPNetwork] = (),
        managers: Iterable[IPAddress] = (),
        interfaces: Callable[[], tuple[set[IPAddress], set[IPAddress]]] | None = None,
        widest_v4: int = 24,
        widest_v6: int = 48,
    ) -> None:
        self.allowlist = list(allowlist)
        self.managers = set(managers)
        self.interfaces = interfaces
        self.widest = {4: widest_v4, 6: widest_v6}

    def check(
        self,
        net: IPNetwork,
        *,
        temporary_allows: Iterable[IPNetwork] = (),
        force_width: bool = False,
        protected: dict[IPAddress, str] | None = None,
    ) -> None:
        """Raise :class:`Refused` if ``net`` must not be blocked. ``protected`` adds
        addresses with the reason to give (the admin's own SSH session, the gateway)."""
        what = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        for reason, ranges in _SPECIAL:
            if any(_overlaps(net, r) for r in ranges):
                raise Refused(f"refused {what}: {reason} address")
        if not force_width and net.prefixlen < self.widest[net.version]:
            raise Refused(
                f"refused {what}: wider than /{self.widest[net.version]} "
                "(widest_block_v4/_v6 in the config; an admin may force it)"
            )
        manager = _contains_any(net, self.managers)
        if manager is not None:
            raise Refused(f"refused {what}: the agent's manager address {manager}")
        for allowed in self.allowlist:
            if _overlaps(net, allowed):
                raise Refused(f"refused {what}: allowlisted ({allowed})")
        for allowed in temporary_allows:
            if _overlaps(net, allowed):
                raise Refused(f"refused {what}: allowed by `activeresponse allow` ({allowed})")
        for addr, why in (protected or {}).items():
            if addr.version == net.version and addr in net:
                raise Refused(f"refused {what}: {why} {addr} (use --force if you mean it)")
        if self.interfaces is not None:
            own, broadcasts = self.interfaces()
            addr = _contains_any(net, own)
            if addr is not None:
                raise Refused(f"refused {what}: this host's own address {addr}")
            addr = _contains_any(net, broadcasts)
            if addr is not None:
                raise Refused(f"refused {what}: broadcast address {addr} of this host's network")
