"""Set elements, shared by the set backends (ipset, nftables): their text and timeouts.

Elements are keyed by their text, not by ``ipaddress`` objects: with 100,000 of them,
parsing and hashing network objects costs the listing and the plan about half a second
each, text next to nothing. :func:`element_text` is the one spelling we write and
compare; :func:`canonical` brings what a tool lists to it.

The ledger holds a block's expiry as a Unix time; a kernel set element holds a relative
timeout, and lists what remains of it. These helpers turn one into the other and decide
whether an element the kernel holds already expires when the ledger says it should.

A kernel timeout has a ceiling (:data:`CAP`, about 24.8 days). A block that outlives it
gets the ceiling: the kernel would lift it early, so each sync (the expiry sweep) refreshes
it once half of the ceiling has run out. The kernel thus never holds a block longer than
the ledger, and a dead agent or a lost ledger never leaves one forever.
"""

from __future__ import annotations

import ipaddress
import math

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from ..addresses import IPNetwork
    from ..model import Block
    from .base import Batch

# The longest element timeout, in seconds: 2**31 ms, ipset's own limit and the largest
# every kernel we run on takes for nftables too.
CAP = 2147483

# How far (seconds) a kernel element's expiry may be from the ledger's and still count as
# the same: the kernel lists whole seconds, and time passes between listing and planning.
TOLERANCE = 2.0


def kernel_timeout(expires: float | None, now: float, cap: int) -> int | None:
    """Seconds to give a kernel element for a block expiring at ``expires`` (``None``:
    permanent, no timeout). At least 1: a timeout of 0 means "permanent" to ipset."""
    if expires is None:
        return None
    return max(1, min(cap, math.ceil(expires - now)))


def expiry_ok(kernel: float | None, wanted: float | None, now: float, cap: int) -> bool:
    """Whether an element expiring at ``kernel`` (Unix time, ``None``: permanent) stands
    for a block expiring at ``wanted``."""
    if wanted is None or kernel is None:
        return wanted is None and kernel is None
    if wanted - now > cap:
        # Capped: fine while more than half of the ceiling is left.
        return now + cap / 2 <= kernel <= now + cap + TOLERANCE
    return abs(kernel - wanted) <= TOLERANCE


def live(expires: float | None, now: float) -> bool:
    """Whether a block is still to be enforced: an expired one (the sweep has not closed it
    yet) must not be given to the kernel, where a timeout can only be positive."""
    return expires is None or expires > now


def element_text(net: IPNetwork) -> str:
    """``192.0.2.7`` for one address, ``198.51.100.0/24`` for a network."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def canonical(text: str) -> str:
    """:func:`element_text` of an element as a tool listed it. A plain dotted quad is
    already canonical; anything else (IPv6, a prefix) goes through ``ipaddress`` so that
    e.g. an IPv4-compatible address spelled ``::1.2.3.4`` by inet_ntop still matches."""
    if "/" in text or ":" in text:
        return element_text(ipaddress.ip_network(text))
    return text


def network(text: str) -> IPNetwork:
    """The network of a canonical element text."""
    if "/" in text or ":" in text:
        return ipaddress.ip_network(text)
    return ipaddress.IPv4Network(text)


class ElementPlans:
    """What the set backends share: a brief read leaves the elements out, and ``plan``
    and ``plan_sync`` both come down to their ``_plan(state, families, wanted, remove,
    exact, now)``."""

    def read(self, families, *, elements: bool = True):
        raise NotImplementedError

    def read_brief(self, families: Iterable[int]) -> Any:
        return self.read(families, elements=False)

    def _plan(self, state, families, wanted, remove, exact, now):
        raise NotImplementedError

    def plan(
        self,
        state: Any,
        *,
        add: Iterable[Block] = (),
        remove: Iterable[IPNetwork] = (),
        now: float | None = None,
    ) -> Batch:
        """``now`` (default: the clock) is the time element timeouts are counted from."""
        adds, removes = list(add), list(remove)
        # Every family read (first use sets all of them up), and those the change touches.
        families = sorted(
            set(state.families) | {b.family for b in adds} | {n.version for n in removes}
        )
        return self._plan(state, families, adds, removes, exact=False, now=now)

    def plan_sync(
        self,
        state: Any,
        blocks: Iterable[Block],
        families: Iterable[int],
        *,
        now: float | None = None,
    ) -> Batch:
        state.require_elements("plan_sync")
        families = sorted(set(families))
        wanted = [b for b in blocks if b.family in families]
        return self._plan(state, families, wanted, [], exact=True, now=now)
