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
hooks need it. With ``-exist``, re-adding an element sets its new timeout (no duplicate)
and deleting an absent one is a no-op, so a plan never fails on an element the kernel
expired since it was listed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..errors import FirewallError
from ..model import Block
from ..runner import run
from . import elements
from .base import FAMILIES, Backend, Batch, Step
from .elements import ElementPlans, element_text
from .iptables import CHAIN, REBUILD_AFTER, TAG, FamilyState, XtablesBackend, _source_text

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from ..addresses import IPNetwork

PREFIX = "activeresponse"
TIMEOUT_CAP = elements.CAP  # ipset refuses longer timeouts
_INET = {4: "inet", 6: "inet6"}


def set_name(family: int, single: bool) -> str:
    return f"{PREFIX}-{'v' if single else 'net'}{family}"


def set_names(family: int) -> tuple[str, str]:
    """Our two sets of a family, in the order the chain looks them up."""
    return set_name(family, True), set_name(family, False)


def set_rule(name: str) -> str:
    return f"-m set --match-set {name} src -m comment --comment {TAG} -j DROP"


class IpSet:
    """One of our sets. ``elements``: element text -> seconds left when listed, 0 for a
    permanent element (ipset lists at least 1 for a timed one)."""

    __slots__ = ("elements", "family", "maxelem", "name", "timeout", "type")

    def __init__(self, name: str, type_: str, options: dict[str, str]) -> None:
        self.name = name
        self.type = type_
        self.family = options.get("family", "inet")
        maxelem = options.get("maxelem", "")
        self.maxelem = int(maxelem) if maxelem.isdigit() else None
        self.timeout = "timeout" in options
        self.elements: dict[str, int] = {}


# create options of `ipset save` / the Header of `ipset list` that take a value.
_VALUED = frozenset(
    ("family", "hashsize", "maxelem", "timeout", "bucketsize", "initval", "netmask", "size")
)


def _options(words: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    rest = iter(words)
    for word in rest:
        options[word] = next(rest, "") if word in _VALUED else ""
    return options


def parse_ipset_save(text: str) -> dict[str, IpSet]:
    """Our sets (names starting with ``activeresponse-``) with their elements, from
    ``ipset save``."""
    sets: dict[str, IpSet] = {}
    mine = PREFIX + "-"
    canonical = elements.canonical
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[1].startswith(mine):
            continue
        if words[0] == "add":
            ipset = sets.get(words[1])
            if ipset is None:
                continue
            try:
                key = canonical(words[2])
            except ValueError:
                raise FirewallError(f"unexpected element in ipset {words[1]}: {line}") from None
            # "add SET ELEM timeout N": our sets hold nothing else.
            left = words[4] if len(words) > 4 and words[3] == "timeout" else "0"
            ipset.elements[key] = int(left)
        elif words[0] == "create":
            sets[words[1]] = IpSet(words[1], words[2], _options(words[3:]))
    return sets


def parse_ipset_list_terse(text: str) -> dict[str, IpSet]:
    """Our sets without their elements, from ``ipset list -t``."""
    sets: dict[str, IpSet] = {}
    name = type_ = ""
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == "Name":
            name, type_ = value.strip(), ""
        elif key == "Type":
            type_ = value.strip()
        elif key == "Header" and name.startswith(PREFIX + "-"):
            sets[name] = IpSet(name, type_, _options(value.split()))
    return sets


class IpsetState:
    """A snapshot: our sets, and the iptables filter table of each family read.
    ``complete`` is False when the elements were not listed (``read(elements=False)``)."""

    def __init__(
        self,
        sets: dict[str, IpSet],
        tables: dict[int, FamilyState],
        read_at: float,
        complete: bool = True,
    ) -> None:
        self.sets = sets
        self.tables = tables
        self.read_at = read_at
        self.complete = complete

    @property
    def families(self) -> list[int]:
        return list(self.tables)

    def expiry(self, ipset: IpSet, key: str) -> float | None:
        """Unix time the kernel drops this element, ``None`` if permanent."""
        left = ipset.elements[key]
        return None if left == 0 else self.read_at + left

    def require_elements(self, what: str) -> None:
        if not self.complete:
            raise ValueError(f"{what} needs a snapshot with elements (read(elements=True))")


def _add_line(name: str, key: str, timeout: int | None) -> str:
    return f"add {name} {key} timeout {timeout or 0}"


class IpsetBackend(ElementPlans, XtablesBackend):
    name = "ipset"
    timeout_cap = TIMEOUT_CAP

    def __init__(self, variant: str = "auto", maxelem: int = 1048576) -> None:
        super().__init__(variant)
        self.maxelem = maxelem

    def describe(self) -> str:
        return f"ipset (iptables {self.variant})"

    def read(self, families: Iterable[int] = FAMILIES, *, elements: bool = True) -> IpsetState:
        """``ipset save`` (``elements=False``: ``ipset list -t``, headers only) and the
        iptables filter table of each family."""
        families = list(families)
        read_at = time.time()
        if elements:
            sets = parse_ipset_save(run(["ipset", "save"]).stdout)
        else:
            sets = parse_ipset_list_terse(run(["ipset", "list", "-t"]).stdout)
        return IpsetState(sets, self.read_tables(families), read_at, complete=elements)

    def teardown_batch(self, successor: Backend) -> Batch:
        """Hooks and chain out unless ``successor`` shares them (its sync already dropped
        our lookups), then our sets destroyed."""
        batch = Batch()
        if not isinstance(successor, XtablesBackend):
            self.unhook_batch(batch)
        ours = [n for n in run(["ipset", "list", "-n"]).stdout.split() if n.startswith(PREFIX)]
        if ours:
            batch.steps.append(Step(["ipset", "restore"], "".join(f"destroy {n}\n" for n in ours)))
            batch.actions.append(f"destroyed sets {', '.join(ours)}")
        return batch

    # -- the chain: one lookup rule per set ------------------------------------------------

    def chain_content(
        self, state: FamilyState, add: list[IPNetwork], remove: list[IPNetwork], exact: bool
    ) -> tuple[list[str], list[str]]:
        """The set lookups. With ``exact`` they are the only rules of ours in the chain, in
        order; otherwise missing ones are appended, and per-address drops of ours (left by
        the iptables backend) go when their address is removed."""
        names = set_names(state.family)
        ours = [r for r in state.rules.get(CHAIN, []) if r.tagged]
        lookups = [r.match_set for r in ours if r.target == "DROP" and not r.source]
        lines: list[str] = []
        actions: list[str] = []
        if exact:
            if lookups != [f"{n} src" for n in names] or len(ours) != len(names):
                if len(ours) > REBUILD_AFTER:  # e.g. 100,000 per-address rules to replace
                    others = [r.text for r in state.rules.get(CHAIN, []) if not r.tagged]
                    lines.append(f"-F {CHAIN}")
                    lines.extend(f"-A {CHAIN} {text}" for text in others)
                else:
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
        wanted: dict[str, float | None],
        remove: list[str],
        exact: bool,
        now: float,
    ) -> tuple[list[str], list[str]]:
        """``ipset restore`` lines for one set: ``wanted`` (element -> expiry) present with
        that expiry; ``remove`` (or, with ``exact``, everything not wanted) absent. From a
        snapshot without elements, every wanted element is (re)added and every removed
        one deleted: ``-exist`` makes both right whatever the set holds."""
        lines: list[str] = []
        actions: list[str] = []
        name = set_name(family, single)
        current = state.sets.get(name)
        cap = self.timeout_cap
        kernel_timeout = elements.kernel_timeout
        if current is None or not state.complete:
            adds = {k: kernel_timeout(e, now, cap) for k, e in wanted.items()}
            dels = [k for k in remove if k not in wanted] if current is not None else []
            present: dict[str, int] = {}
        else:
            present = current.elements
            expiry_ok = elements.expiry_ok
            adds = {
                k: kernel_timeout(e, now, cap)
                for k, e in wanted.items()
                if k not in present or not expiry_ok(state.expiry(current, k), e, now, cap)
            }
            gone = set(remove)
            dels = [k for k in present if k not in wanted and (exact or k in gone)]
        kind, inet = ("hash:ip" if single else "hash:net"), _INET[family]
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
        elif (current.maxelem != self.maxelem or not current.timeout) and state.complete:
            # (From a snapshot without elements the set cannot be copied: the next sync
            # rebuilds it.)
            return self._rebuild(state, current, header, adds, dels, now)
        for key, timeout in adds.items():
            lines.append(_add_line(name, key, timeout))
        for key in dels:
            lines.append(f"del {name} {key}")
        if len(adds) + len(dels) > 20:
            actions.append(f"{name}: added or refreshed {len(adds)}, removed {len(dels)}")
            return lines, actions
        for key, timeout in adds.items():
            what = "permanent" if timeout is None else f"timeout {timeout}s"
            verb = "refreshed" if key in present else "added"
            actions.append(f"{verb} {key} in {name} ({what})")
        actions.extend(f"removed {key} from {name}" for key in dels)
        return lines, actions

    def _rebuild(
        self,
        state: IpsetState,
        current: IpSet,
        header: str,
        adds: dict[str, int | None],
        dels: list[str],
        now: float,
    ) -> tuple[list[str], list[str]]:
        """A set whose maxelem (or timeout support) is not what the config says: fill a new
        set and swap it in (atomic for the rule that references it), keeping every element
        with what is left of its timeout."""
        tmp = f"{current.name}-new"
        lines = [f"destroy {tmp}"] if tmp in state.sets else []
        lines.append(f"create {tmp} {header}")
        keep: dict[str, int | None] = {}
        gone = set(dels)
        for key in current.elements:
            if key not in gone:
                expires = state.expiry(current, key)
                keep[key] = elements.kernel_timeout(expires, now, self.timeout_cap)
        keep.update(adds)
        lines.extend(_add_line(tmp, key, t) for key, t in keep.items())
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
        # (family, single) -> element -> expiry; and what goes.
        want: dict[tuple[int, bool], dict[str, float | None]] = {}
        gone: dict[tuple[int, bool], list[str]] = {}
        for net in remove:
            gone.setdefault((net.version, _single(net)), []).append(element_text(net))
        for b in wanted:
            where = (b.family, _single(b.network))
            if elements.live(b.expires, now):
                want.setdefault(where, {})[b.address] = b.expires
            else:  # expired: lifted, not given a timeout
                gone.setdefault(where, []).append(b.address)
        for family in families:
            for single in (True, False):
                lines, actions = self._plan_set(
                    state,
                    family,
                    single,
                    want.get((family, single), {}),
                    gone.get((family, single), []),
                    exact,
                    now,
                )
                restore.extend(lines)
                batch.actions.extend(actions)
            removed = [n for n in remove if n.version == family]
            per_family[family] = self.plan_family(state.tables[family], [], removed, exact)
        if restore:
            batch.steps.append(Step(["ipset", "restore", "-exist"], "\n".join(restore) + "\n"))
        return self.restore_batch(per_family, batch)

    def enforced(self, state: IpsetState) -> set[IPNetwork]:
        """Elements of our sets, and per-address drops of ours still in the chain."""
        import ipaddress

        state.require_elements("enforced")
        found: set[IPNetwork] = set()
        for family, table in state.tables.items():
            for name in set_names(family):
                if name in state.sets:
                    found.update(map(elements.network, state.sets[name].elements))
            found.update(ipaddress.ip_network(src) for src in table.our_drops())
        return found

    def enforced_addresses(self, state: IpsetState) -> set[str]:
        state.require_elements("enforced")
        found: set[str] = set()
        for family, table in state.tables.items():
            for name in set_names(family):
                if name in state.sets:
                    found.update(state.sets[name].elements)  # keyed by canonical text
            found.update(elements.canonical(src) for src in table.our_drops())
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


def _single(net: IPNetwork) -> bool:
    return net.prefixlen == net.max_prefixlen
