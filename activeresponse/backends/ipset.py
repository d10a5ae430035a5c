"""ipset backend: blocked addresses are elements of kernel hash sets with their own
timeouts; per-packet cost is one hash lookup whatever the number of blocks.

Sets, per family (``family inet`` / ``inet6``, ``timeout 0`` at create so every element
carries its own timeout and 0 means permanent, explicit ``maxelem``)::

    activeresponse-v4 / -v6      hash:ip    single addresses
    activeresponse-net4 / -net6  hash:net   networks (admin blocks of a CIDR)

In iptables, the same layout as the iptables backend (localhost safeguard first and jump
to chain ACTIVERESPONSE second in INPUT and FORWARD, every rule tagged) and, in the chain,
one ``-m set --match-set <set> src -j DROP`` rule per set. A change is one
``ipset restore -exist`` step (sets created if missing, ``add`` with the element's
timeout, ``del``), then one ``*-restore --noflush`` step per family when the chain or
hooks need it. ``-exist`` makes re-adding an element update its timeout (no duplicate)
and deleting an absent one a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..errors import FirewallError
from ..model import Block
from ..runner import run
from . import timeouts
from .base import FAMILIES, Batch, Step
from .iptables import CHAIN, TAG, FamilyState, XtablesBackend, _source_text

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from ..addresses import IPNetwork

PREFIX = "activeresponse"
TIMEOUT_CAP = timeouts.CAP  # ipset refuses longer timeouts
_INET = {4: "inet", 6: "inet6"}


def set_name(family: int, single: bool) -> str:
    return f"{PREFIX}-{'v' if single else 'net'}{family}"


def set_names(family: int) -> tuple[str, str]:
    """Our two sets of a family, in the order the chain looks them up."""
    return set_name(family, True), set_name(family, False)


def set_rule(name: str) -> str:
    return f"-m set --match-set {name} src -m comment --comment {TAG} -j DROP"


class IpSet:
    """One of our sets as ``ipset save`` printed it. ``elements``: network -> remaining
    seconds at the time of the listing, 0 for a permanent element."""

    __slots__ = ("elements", "family", "maxelem", "name", "timeout", "type")

    def __init__(self, name: str, type_: str, options: dict[str, str]) -> None:
        self.name = name
        self.type = type_
        self.family = options.get("family", "inet")
        maxelem = options.get("maxelem", "")
        self.maxelem = int(maxelem) if maxelem.isdigit() else None
        self.timeout = "timeout" in options
        self.elements: dict[IPNetwork, int] = {}


# create options of `ipset save` that take a value (the others are flags).
_VALUED = frozenset(
    ("family", "hashsize", "maxelem", "timeout", "bucketsize", "initval", "netmask", "size")
)


def parse_ipset_save(text: str) -> dict[str, IpSet]:
    """Our sets (names starting with ``activeresponse-``) from ``ipset save`` output."""
    import ipaddress

    sets: dict[str, IpSet] = {}
    mine = PREFIX + "-"
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[1].startswith(mine):
            continue
        if words[0] == "create":
            options: dict[str, str] = {}
            rest = iter(words[3:])
            for word in rest:
                options[word] = next(rest, "") if word in _VALUED else ""
            sets[words[1]] = IpSet(words[1], words[2], options)
        elif words[0] == "add" and words[1] in sets:
            try:
                net = ipaddress.ip_network(words[2])
            except ValueError:
                raise FirewallError(f"unexpected element in ipset {words[1]}: {line}") from None
            left = words[words.index("timeout") + 1] if "timeout" in words[3:] else "0"
            sets[words[1]].elements[net] = int(left)
    return sets


class IpsetState:
    """A snapshot: our sets, and the iptables filter table of each family read."""

    def __init__(
        self, sets: dict[str, IpSet], tables: dict[int, FamilyState], read_at: float
    ) -> None:
        self.sets = sets
        self.tables = tables
        self.read_at = read_at

    def expiry(self, ipset: IpSet, net: IPNetwork) -> float | None:
        """Unix time the kernel drops this element, ``None`` if permanent."""
        left = ipset.elements[net]
        return None if left == 0 else self.read_at + left


def _kind(single: bool) -> str:
    return "hash:ip" if single else "hash:net"


def _add_line(name: str, net: IPNetwork, timeout: int | None) -> str:
    return f"add {name} {_element(net)} timeout {timeout or 0}"


def _element(net: IPNetwork) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


class IpsetBackend(XtablesBackend):
    name = "ipset"
    timeout_cap = TIMEOUT_CAP

    def __init__(self, variant: str = "auto", maxelem: int = 1048576) -> None:
        super().__init__(variant)
        self.maxelem = maxelem

    def describe(self) -> str:
        return f"ipset (iptables {self.variant})"

    def read(self, families: Iterable[int] = FAMILIES) -> IpsetState:
        families = list(families)
        read_at = time.time()
        sets = parse_ipset_save(run(["ipset", "save"]).stdout)
        return IpsetState(sets, self.read_tables(families), read_at)

    # -- the chain: one lookup rule per set ------------------------------------------------

    def chain_content(
        self, state: FamilyState, add: list[IPNetwork], remove: list[IPNetwork], exact: bool
    ) -> tuple[list[str], list[str]]:
        """The set lookups. With ``exact`` they are the only rules of ours in the chain, in
        order; otherwise missing ones are appended, and per-address drops of ours (left by
        the iptables backend) go when their address is removed."""
        names = set_names(state.family)
        ours = [r for r in state.rules.get(CHAIN, []) if r.tagged]
        lookups = [f"{r.match_set}" for r in ours if r.target == "DROP" and not r.source]
        lines: list[str] = []
        actions: list[str] = []
        if exact:
            if lookups != [f"{n} src" for n in names] or len(ours) != len(names):
                lines.extend(f"-D {CHAIN} {r.text}" for r in ours)
                lines.extend(f"-A {CHAIN} {set_rule(n)}" for n in names)
                actions.append(f"rebuilt {CHAIN}: DROP sources in {', '.join(names)}")
            return lines, actions
        for name in names:
            if f"{name} src" not in lookups:
                lines.append(f"-A {CHAIN} {set_rule(name)}")
                actions.append(f"added DROP sources in {name} to {CHAIN}")
        gone = {_source_text(n) for n in remove}
        for rule in ours:
            if rule.source in gone and rule.target == "DROP":
                lines.append(f"-D {CHAIN} {rule.text}")
                actions.append(f"removed DROP {rule.source} from {CHAIN}")
        return lines, actions

    # -- the sets ------------------------------------------------------------------------

    def _plan_set(
        self,
        state: IpsetState,
        family: int,
        single: bool,
        wanted: dict[IPNetwork, float | None],
        remove: set[IPNetwork],
        exact: bool,
        now: float,
    ) -> tuple[list[str], list[str]]:
        """``ipset restore`` lines for one set: ``wanted`` (network -> expiry) present with
        that expiry; ``remove`` (or, with ``exact``, everything not wanted) absent."""
        lines: list[str] = []
        actions: list[str] = []
        name = set_name(family, single)
        current = state.sets.get(name)
        present = current.elements if current else {}
        cap = self.timeout_cap
        adds = {
            net: timeouts.kernel_timeout(expires, now, cap)
            for net, expires in wanted.items()
            if current is None
            or net not in present
            or not timeouts.expiry_ok(state.expiry(current, net), expires, now, cap)
        }
        dels = [n for n in present if n not in wanted and (exact or n in remove)]
        kind, inet = _kind(single), _INET[family]
        header = f"{kind} family {inet} maxelem {self.maxelem} timeout 0"
        if current is None:
            lines.append(f"create {name} {header}")
            actions.append(f"created ipset {name}")
        elif (current.type, current.family) != (kind, inet):
            # Only a swap replaces a set that a rule references, and it needs the same type.
            raise FirewallError(
                f"ipset {name} exists as {current.type} family {current.family}, not {kind} "
                f"family {inet}: delete its rule from {CHAIN} and `ipset destroy {name}`"
            )
        elif current.maxelem != self.maxelem or not current.timeout:
            return self._rebuild(state, current, header, adds, dels, now)
        for net, timeout in adds.items():
            lines.append(_add_line(name, net, timeout))
            what = "permanent" if timeout is None else f"timeout {timeout}s"
            verb = "refreshed" if net in present else "added"
            actions.append(f"{verb} {_element(net)} in {name} ({what})")
        for net in dels:
            lines.append(f"del {name} {_element(net)}")
            actions.append(f"removed {_element(net)} from {name}")
        return lines, actions

    def _rebuild(
        self,
        state: IpsetState,
        current: IpSet,
        header: str,
        adds: dict[IPNetwork, int | None],
        dels: list[IPNetwork],
        now: float,
    ) -> tuple[list[str], list[str]]:
        """A set whose maxelem (or timeout support) is not what the config says: fill a new
        set and swap it in (atomic for the rule that references it), keeping every element
        with what is left of its timeout."""
        tmp = f"{current.name}-new"
        lines = [f"destroy {tmp}"] if tmp in state.sets else []
        lines.append(f"create {tmp} {header}")
        keep: dict[IPNetwork, int | None] = {}
        gone = set(dels)
        for net in current.elements:
            if net not in gone:
                expires = state.expiry(current, net)
                keep[net] = timeouts.kernel_timeout(expires, now, self.timeout_cap)
        keep.update(adds)
        lines.extend(_add_line(tmp, net, t) for net, t in keep.items())
        lines += [f"swap {current.name} {tmp}", f"destroy {tmp}"]
        return lines, [f"rebuilt ipset {current.name} ({header}, {len(keep)} elements)"]

    def _plan(
        self,
        state: IpsetState,
        families: list[int],
        wanted: list[Block],
        remove: list[IPNetwork],
        exact: bool,
        now: float | None,
    ) -> Batch:
        now = time.time() if now is None else now
        batch = Batch()
        restore: list[str] = []
        per_family = {}
        for family in families:
            mine = [b for b in wanted if b.family == family]
            removed = [n for n in remove if n.version == family]
            # An expired block handed to plan() is lifted, not given a timeout.
            gone = set(removed) | {b.network for b in mine if not timeouts.live(b.expires, now)}
            for single in (True, False):
                want = {
                    b.network: b.expires
                    for b in mine
                    if b.is_single == single and b.network not in gone
                }
                lines, actions = self._plan_set(state, family, single, want, gone, exact, now)
                restore.extend(lines)
                batch.actions.extend(actions)
            per_family[family] = self.plan_family(state.tables[family], [], removed, exact)
        if restore:
            batch.steps.append(Step(["ipset", "restore", "-exist"], "\n".join(restore) + "\n"))
        return self.restore_batch(per_family, batch)

    def plan(
        self,
        state: IpsetState,
        *,
        add: Iterable[Block] = (),
        remove: Iterable[IPNetwork] = (),
        now: float | None = None,
    ) -> Batch:
        """``now`` (default: the clock) is the time element timeouts are counted from."""
        adds, removes = list(add), list(remove)
        families = sorted({b.family for b in adds} | {n.version for n in removes})
        return self._plan(state, families, adds, removes, exact=False, now=now)

    def plan_sync(
        self,
        state: IpsetState,
        blocks: Iterable[Block],
        families: Iterable[int],
        *,
        now: float | None = None,
    ) -> Batch:
        families = sorted(set(families))
        wanted = [b for b in blocks if b.family in families]
        return self._plan(state, families, wanted, [], exact=True, now=now)

    def enforced(self, state: IpsetState) -> set[IPNetwork]:
        """Elements of our sets, and per-address drops of ours still in the chain."""
        import ipaddress

        found: set[IPNetwork] = set()
        for family, table in state.tables.items():
            for name in set_names(family):
                if name in state.sets:
                    found.update(state.sets[name].elements)
            found.update(ipaddress.ip_network(src) for src in table.our_drops())
        return found

    def safeguards_ok(self, state: IpsetState) -> bool:
        """Hooks in place, and every set exists and is looked up from our chain."""
        if not self.hooks_ok(state.tables):
            return False
        for family, table in state.tables.items():
            lookups = {r.match_set for r in table.rules.get(CHAIN, []) if r.tagged}
            for name in set_names(family):
                if name not in state.sets or f"{name} src" not in lookups:
                    return False
        return True
