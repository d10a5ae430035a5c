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


def span(net: IPNetwork) -> tuple[int, int, int]:
    """(version, first, last) as integers: the guard compares these, not ipaddress
    objects, so an import checks 100,000 entries in a fraction of a second."""
    first = int(net.network_address)
    return net.version, first, first + (1 << (net.max_prefixlen - net.prefixlen)) - 1


def _overlap(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def _inside(s: tuple[int, int, int], points: dict[tuple[int, int], object]) -> object | None:
    """The first of ``points`` ((version, int) -> address) inside span ``s``."""
    if s[1] == s[2]:
        return points.get((s[0], s[1]))
    for (version, value), addr in points.items():
        if version == s[0] and s[1] <= value <= s[2]:
            return addr
    return None


def _what(net: IPNetwork) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _points(addresses: Iterable[IPAddress]) -> dict[tuple[int, int], IPAddress]:
    return {(a.version, int(a)): a for a in addresses}


def _special_spans() -> dict[int, list[tuple[int, int, str]]]:
    """version -> [(first, last, reason)]: plain integer comparisons per check."""
    out: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for reason, ranges in _SPECIAL:
        for version, first, last in map(span, ranges):
            out[version].append((first, last, reason))
    return out


_SPECIAL_SPANS = _special_spans()


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
        self.allowlist = [(span(n), n) for n in allowlist]
        self.managers = _points(managers)
        self._host: tuple[object, dict, dict] | None = None
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
        s = span(net)
        _, lo, hi = s
        for first, last, reason in _SPECIAL_SPANS[net.version]:
            if first <= hi and lo <= last:
                raise Refused(f"refused {_what(net)}: {reason} address")
        if not force_width and net.prefixlen < self.widest[net.version]:
            raise Refused(
                f"refused {_what(net)}: wider than /{self.widest[net.version]} "
                "(widest_block_v4/_v6 in the config; an admin may force it)"
            )
        manager = _inside(s, self.managers)
        if manager is not None:
            raise Refused(f"refused {_what(net)}: the agent's manager address {manager}")
        for allowed_span, allowed in self.allowlist:
            if _overlap(s, allowed_span):
                raise Refused(f"refused {_what(net)}: allowlisted ({allowed})")
        for allowed in temporary_allows:
            if _overlap(s, span(allowed)):
                raise Refused(
                    f"refused {_what(net)}: allowed by `activeresponse allow` ({allowed})"
                )
        for addr, why in (protected or {}).items():
            if _inside(s, {(addr.version, int(addr)): addr}) is not None:
                raise Refused(f"refused {_what(net)}: {why} {addr} (use --force if you mean it)")
        if self.interfaces is not None:
            own, broadcasts = self._host_points()
            addr = _inside(s, own)
            if addr is not None:
                raise Refused(f"refused {_what(net)}: this host's own address {addr}")
            addr = _inside(s, broadcasts)
            if addr is not None:
                raise Refused(
                    f"refused {_what(net)}: broadcast address {addr} of this host's network"
                )

    def _host_points(self) -> tuple[dict, dict]:
        """The host's addresses as points; recomputed whenever ``interfaces`` returns a
        new reading (it is called on every check so new addresses are seen)."""
        reading = self.interfaces()  # type: ignore[misc]
        if self._host is None or self._host[0] is not reading:
            self._host = (reading, _points(reading[0]), _points(reading[1]))
        return self._host[1], self._host[2]
