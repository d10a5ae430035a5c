"""nftables backend: our own table ``inet activeresponse``, timeout sets, one transaction
per change. No other table is ever written (the cheap listing reads past the other
``inet`` tables).

Layout::

    table inet activeresponse
      set v4  { type ipv4_addr; flags timeout; size <set_maxelem>; }   single addresses
      set v6  { type ipv6_addr; flags timeout; size <set_maxelem>; }
      set net4_<len> / net6_<len> { ...; flags interval, timeout; }   networks, per prefix
      chain input   { type filter hook input priority filter - 10; policy accept;
                      iif "lo" accept; ip saddr 127.0.0.0/8 accept; ip6 saddr ::1 accept
                      ip saddr @v4 drop; ip6 saddr @v6 drop; ip saddr @net4_24 drop ... }
      chain forward { the same without the iif rule }

Single addresses go in hash sets, never in an interval set (adjacent intervals merge
under auto-merge; a hash lookup is flat). Networks go in one interval set per prefix
length, because nft refuses an interval that overlaps one already
in the set ("interval overlaps with an existing one", nft 1.0.6), and an admin may block a
/24 and a /28 inside it; networks of one prefix length never overlap.

Our chains sit before the standard filter chains. An ``accept`` in a base chain only ends
that chain: other tables still see the packet, so our loopback accepts never bypass
anybody else's rules; they only make sure we never drop loopback traffic.

Every change is one ``nft -f -`` transaction (atomic). Creation is idempotent (``add``);
rules are repaired by ``flush chain`` and re-adding them in the same transaction.
Element timeouts are changed by delete and re-add in one transaction: re-adding an
element with a new timeout updates it on recent kernels (seen here on 6.18), not on
older ones that keep the first timeout. An ``add`` of the element before the ``delete``
makes the delete safe if the kernel expired the element since we read the table, so
removing an element that is gone is never an error.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..errors import CommandError, FirewallError
from ..logsetup import get_logger
from ..model import Block
from ..runner import run
from . import elements
from .base import FAMILIES, Backend, Batch, Step
from .elements import ElementPlans, element_text

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from typing import Any

    from ..addresses import IPNetwork

TABLE = "activeresponse"
QUALIFIED = f"inet {TABLE}"
PRIORITY = -10  # "filter - 10": before the standard filter chains
TIMEOUT_CAP = elements.CAP
CHUNK = 10000  # elements per statement: keeps lines and error messages readable
LISTINGS = 4  # most listings of the elements read() makes before giving up
_ADDR_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}
_PROTO = {4: "ip", 6: "ip6"}
_LOOPBACK = {4: "127.0.0.0/8", 6: "::1"}
CHAINS = ("input", "forward")

log = get_logger(__name__)


def set_for(net: IPNetwork) -> str:
    """The set that holds ``net``: ``v4``/``v6`` for one address, ``net4_24`` etc."""
    if net.prefixlen == net.max_prefixlen:
        return f"v{net.version}"
    return f"net{net.version}_{net.prefixlen}"


def set_family(name: str) -> int | None:
    """4 or 6 for one of our set names, None for any other name."""
    if name in ("v4", "v6"):
        return int(name[1])
    head, _, length = name.partition("_")
    if head in ("net4", "net6") and length.isdigit():
        return int(head[3])
    return None


def set_spec(name: str, size: int) -> tuple[str, frozenset[str], int]:
    """(type, flags, size) a set of ours must have."""
    family = set_family(name)
    assert family is not None
    flags = ("timeout",) if name.startswith("v") else ("interval", "timeout")
    return _ADDR_TYPE[family], frozenset(flags), size


def _sets_order(name: str) -> tuple[int, int, int]:
    """v4, v6, then network sets by family and prefix length: the order of the rules."""
    family = set_family(name) or 0
    if name.startswith("v"):
        return (0, family, 0)
    return (1, family, int(name.partition("_")[2]))


def expected_rules(chain: str, sets: Iterable[str]) -> list[tuple[str, str]]:
    """(nft syntax, canonical form of its JSON listing) of every rule of ``chain``."""
    rules = []
    if chain == "input":
        rules.append(('iif "lo" accept', "meta iif == lo accept"))
    for family in FAMILIES:
        proto, lo = _PROTO[family], _LOOPBACK[family]
        rules.append((f"{proto} saddr {lo} accept", f"{proto} saddr == {lo} accept"))
    for name in sorted(sets, key=_sets_order):
        proto = _PROTO[set_family(name)]  # type: ignore[index]
        rules.append((f"{proto} saddr @{name} drop", f"{proto} saddr == @{name} drop"))
    return rules


def _operand(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "meta" and isinstance(inner, dict):
            return f"meta {inner.get('key')}"
        if kind == "payload" and isinstance(inner, dict):
            return f"{inner.get('protocol')} {inner.get('field')}"
        if kind == "prefix" and isinstance(inner, dict):
            return f"{inner.get('addr')}/{inner.get('len')}"
    return json.dumps(value, sort_keys=True)


def rule_text(expr: list[Any]) -> str:
    """A canonical one-line form of a rule's JSON ``expr``, to compare with what we want
    (anything we do not write is kept verbatim, so it never compares equal)."""
    import json

    parts = []
    for stmt in expr:
        if isinstance(stmt, dict) and len(stmt) == 1:
            ((kind, value),) = stmt.items()
            if kind == "match" and isinstance(value, dict):
                left, op, right = value.get("left"), value.get("op"), value.get("right")
                parts.append(f"{_operand(left)} {op} {_operand(right)}")
                continue
            if kind in ("accept", "drop") and value is None:
                parts.append(kind)
                continue
        parts.append(json.dumps(stmt, sort_keys=True))
    return " ".join(parts)


class NftSet:
    """One set of our table; ``elements``: element text -> Unix expiry (``None``:
    permanent)."""

    __slots__ = ("elements", "flags", "name", "size", "type")

    def __init__(self, name: str, type_: str, flags: Iterable[str], size: int | None) -> None:
        self.name = name
        self.type = type_
        self.flags = frozenset(flags)
        self.size = size
        self.elements: dict[str, float | None] = {}

    def spec(self) -> tuple[str, frozenset[str], int | None]:
        return self.type, self.flags, self.size


class NftChain:
    __slots__ = ("hook", "name", "policy", "prio", "rules", "type")

    def __init__(self, name: str, type_: Any, hook: Any, prio: Any, policy: Any) -> None:
        self.name = name
        self.type = type_
        self.hook = hook
        self.prio = prio
        self.policy = policy
        self.rules: list[str] = []

    def spec_ok(self) -> bool:
        return (self.type, self.hook, self.prio, self.policy) == (
            "filter",
            self.name,
            PRIORITY,
            "accept",
        )


class NftState:
    """A snapshot of our table (``exists`` False when there is none). ``complete`` is
    False when the elements were not listed (``read(elements=False)``)."""

    def __init__(self, families: Iterable[int], read_at: float, complete: bool = True) -> None:
        self.families = sorted(set(families))
        self.read_at = read_at
        self.complete = complete
        self.exists = False
        self.sets: dict[str, NftSet] = {}
        self.chains: dict[str, NftChain] = {}

    def require_elements(self, what: str) -> None:
        if not self.complete:
            raise ValueError(f"{what} needs a snapshot with elements (read(elements=True))")


def _key(value: Any) -> str | None:
    """Element text of a listed set element value (address, prefix, or a range that is
    exactly one network); None for anything else."""
    import ipaddress

    try:
        if isinstance(value, str):
            return elements.canonical(value)
        if isinstance(value, dict) and "prefix" in value:
            prefix = value["prefix"]
            return elements.canonical(f"{prefix['addr']}/{prefix['len']}")
        if isinstance(value, dict) and "range" in value:
            low, high = (ipaddress.ip_address(a) for a in value["range"])
            nets = list(ipaddress.summarize_address_range(low, high))  # type: ignore[arg-type]
            return element_text(nets[0]) if len(nets) == 1 else None
    except (ValueError, TypeError, KeyError):
        pass
    return None


def parse_nft_json(
    data: dict[str, Any], families: Iterable[int], read_at: float, complete: bool = True
) -> NftState:
    """Our table from ``nft -j list table inet activeresponse`` (``complete``), or from
    ``nft -t -j list ruleset inet`` (sets without elements; other tables skipped).
    Elements the kernel has expired are not listed; an element whose shape we do not
    write is skipped."""
    state = NftState(families, read_at, complete)
    for obj in data.get("nftables", []):
        if not isinstance(obj, dict) or len(obj) != 1:
            continue
        ((kind, raw),) = obj.items()
        if not isinstance(raw, dict) or raw.get("family") != "inet":
            continue
        if raw.get("table" if kind != "table" else "name") != TABLE:
            continue  # another table (a listing of the whole inet ruleset)
        if kind == "table":
            state.exists = True
        elif kind == "set":
            flags = raw.get("flags", [])
            nset = NftSet(
                raw["name"],
                raw.get("type", ""),
                [flags] if isinstance(flags, str) else flags,
                raw.get("size"),
            )
            for item in raw.get("elem", []):
                value, expiry = item, None
                if isinstance(item, dict) and "elem" in item:
                    value = item["elem"].get("val")
                    if "timeout" in item["elem"]:
                        expiry = read_at + item["elem"].get("expires", 0)
                key = _key(value)
                if key is not None:
                    nset.elements[key] = expiry
            state.sets[nset.name] = nset
        elif kind == "chain":
            state.chains[raw["name"]] = NftChain(
                raw["name"], raw.get("type"), raw.get("hook"), raw.get("prio"), raw.get("policy")
            )
        elif kind == "rule" and raw.get("chain") in state.chains:
            state.chains[raw["chain"]].rules.append(rule_text(raw.get("expr", [])))
    return state


def _contents(state: NftState) -> dict[str, set[str]]:
    return {name: set(nset.elements) for name, nset in state.sets.items()}


def _elements_statement(verb: str, name: str, items: list[str]) -> list[str]:
    return [
        f"{verb} element {QUALIFIED} {name} {{ {', '.join(items[i : i + CHUNK])} }}"
        for i in range(0, len(items), CHUNK)
    ]


def _with_timeout(key: str, timeout: int | None) -> str:
    return key if timeout is None else f"{key} timeout {timeout}s"


class _Plan:
    """Statements of one part of a transaction, by kind, and their human lines."""

    def __init__(self) -> None:
        self.flush: list[str] = []
        self.delete: list[str] = []
        self.create: list[str] = []
        self.changes: list[str] = []
        self.rules: list[str] = []
        self.actions: list[str] = []
        self.after: set[str] = set()


class NftablesBackend(ElementPlans, Backend):
    name = "nftables"
    timeout_cap = TIMEOUT_CAP

    def __init__(self, maxelem: int = 1048576) -> None:
        self.maxelem = maxelem

    def describe(self) -> str:
        return f"nftables (table {QUALIFIED})"

    def read(self, families: Iterable[int] = FAMILIES, *, elements: bool = True) -> NftState:
        """Our table, listed with ``nft -j``; ``elements=False``: without set elements."""
        if not elements:
            # Sets without their elements. nft 1.0.6 still fetches every element for
            # `-t list table` (0.6 s with 100,000), not for `-t list ruleset inet` (10 ms);
            # objects of other inet tables are read past, never written.
            return self._list(["nft", "-t", "-j", "list", "ruleset", "inet"], families, False)
        # A listing made while the kernel resizes a set's hash table can silently miss
        # elements (seen here: 90,589 of 100,000 listed right after a bulk load, all of them
        # a moment later). So list until two listings in a row hold the same elements.
        argv = ["nft", "-j", "list", "table", "inet", TABLE]
        state = self._list(argv, families, True)
        for _ in range(LISTINGS - 1):
            again = self._list(argv, families, True)
            if _contents(again) == _contents(state):
                return again
            log.warning("nft listings of table %s differ; listing it again", QUALIFIED)
            state = again
        raise FirewallError(f"nft lists table {QUALIFIED} differently each time; try again")

    @staticmethod
    def _list(argv: list[str], families: Iterable[int], elements: bool) -> NftState:
        import json

        read_at = time.time()
        done = run(argv, check=False)
        if done.returncode != 0:
            if "No such file or directory" in done.stderr:
                return NftState(families, read_at, elements)  # no table yet
            raise CommandError(argv, done.returncode, done.stderr)
        try:
            data = json.loads(done.stdout)
        except ValueError as exc:
            raise CommandError(argv, done.returncode, f"unreadable JSON: {exc}") from None
        return parse_nft_json(data, families, read_at, elements)

    def _plan(
        self,
        state: NftState,
        families: list[int],
        wanted: list[Block],
        remove: list[IPNetwork],
        exact: bool,
        now: float | None,
    ) -> Batch:
        now = time.time() if now is None else now
        # set name -> element -> expiry; set name -> elements that go.
        want: dict[str, dict[str, float | None]] = {}
        gone: dict[str, set[str]] = {}
        for net in remove:
            if net.version in families:
                gone.setdefault(set_for(net), set()).add(element_text(net))
        for b in wanted:
            if b.family not in families:
                continue
            name = set_for(b.network)
            if elements.live(b.expires, now):
                want.setdefault(name, {})[b.address] = b.expires
            else:  # expired: lifted, not given a timeout
                gone.setdefault(name, set()).add(b.address)
        sets = self._plan_sets(state, families, want, gone, exact, now)
        chains = self._plan_chains(state, sets.after, rewrite=bool(sets.delete))
        # Order matters in the transaction: rules are flushed before a set they look up is
        # deleted, and added after the sets they look up are created.
        body = (
            chains.flush
            + [f"delete chain {QUALIFIED} {c}" for c in chains.delete]
            + [f"delete set {QUALIFIED} {n}" for n in sets.delete]
            + sets.create
            + chains.create
            + sets.changes
            + chains.rules
        )
        batch = Batch()
        if body:
            payload = "\n".join([f"add table {QUALIFIED}", *body]) + "\n"
            batch.steps.append(Step(["nft", "-f", "-"], payload))
            if not state.exists:
                batch.actions.append(f"created table {QUALIFIED}")
            batch.actions.extend(sets.actions + chains.actions)
        return batch

    def _plan_sets(
        self,
        state: NftState,
        families: list[int],
        want: dict[str, dict[str, float | None]],
        gone: dict[str, set[str]],
        exact: bool,
        now: float,
    ) -> _Plan:
        """Statements for our sets and their elements; ``after``: the sets that exist
        once the batch is applied (the rules must look up exactly those)."""
        cap = self.timeout_cap
        kernel_timeout, expiry_ok = elements.kernel_timeout, elements.expiry_ok
        plan = _Plan()
        create, delete, changes, actions = plan.create, plan.delete, plan.changes, plan.actions
        after = plan.after
        names = {"v4", "v6"} | {n for n in state.sets if set_family(n)} | set(want)
        for name in sorted(names, key=_sets_order):
            current = state.sets.get(name)
            spec = set_spec(name, self.maxelem)
            wanted_here = want.get(name, {})
            going = gone.get(name, set())
            if not state.complete:
                # Elements unknown (the agent's path): add+delete+add each wanted element
                # and add+delete each removed one, right whatever the set holds. A set of
                # another shape stays until the next sync, which can copy its elements.
                if current is None:
                    create.append(self._set_statement(name, spec))
                    actions.append(f"created set {name}")
                after.add(name)
                adds = {k: kernel_timeout(e, now, cap) for k, e in wanted_here.items()}
                out = [] if current is None else [k for k in going if k not in adds] + list(adds)
                changes += self._element_changes(name, out, adds)
                actions += self._element_actions(name, adds, [k for k in out if k not in adds])
                continue
            rebuild = current is not None and current.spec() != spec
            present = current.elements if current is not None else {}
            mine = set_family(name) in families
            dels = [k for k in present if mine and k not in wanted_here and (exact or k in going)]
            emptied = not wanted_here and len(dels) == len(present)
            if exact and mine and current is not None and name.startswith("net") and emptied:
                delete.append(name)  # an emptied network set goes with its rules
                actions.append(f"deleted empty set {name}")
                continue
            after.add(name)
            adds = {
                k: kernel_timeout(e, now, cap)
                for k, e in wanted_here.items()
                if rebuild or k not in present or not expiry_ok(present[k], e, now, cap)
            }
            if current is None or rebuild:
                if rebuild:
                    delete.append(name)
                    # Keep what the set held (and is not removed) with what is left of it.
                    for k, expiry in present.items():
                        if k not in adds and k not in dels:
                            adds[k] = kernel_timeout(expiry, now, cap)
                    actions.append(f"rebuilt set {name} ({len(adds)} elements)")
                else:
                    actions.append(f"created set {name}")
                create.append(self._set_statement(name, spec))
                changes += self._element_changes(name, [], adds)
                actions += self._element_actions(name, adds, [])
                continue
            refresh = [k for k in adds if k in present]
            changes += self._element_changes(name, dels + refresh, adds)
            actions += self._element_actions(name, adds, dels, present)
        return plan

    @staticmethod
    def _plan_chains(state: NftState, after: set[str], rewrite: bool) -> _Plan:
        """Statements that give both base chains their hook and exactly the rules for the
        sets in ``after`` (``rewrite``: a set they look up is being deleted)."""
        plan = _Plan()
        for chain in CHAINS:
            current = state.chains.get(chain)
            if current is None or not current.spec_ok():
                if current is not None:
                    plan.flush.append(f"flush chain {QUALIFIED} {chain}")
                    plan.delete.append(chain)
                    plan.actions.append(f"recreated chain {chain} (hook, priority or policy)")
                else:
                    plan.actions.append(f"created chain {chain}")
                plan.create.append(
                    f"add chain {QUALIFIED} {chain} {{ type filter hook {chain} "
                    f"priority filter - {-PRIORITY}; policy accept; }}"
                )
                rewrite = True
            elif current.rules != [canon for _, canon in expected_rules(chain, after)]:
                plan.actions.append(f"rewrote the rules of chain {chain}")
                rewrite = True
        if rewrite:
            for chain in CHAINS:
                line = f"flush chain {QUALIFIED} {chain}"
                if chain in state.chains and line not in plan.flush:
                    plan.flush.append(line)
                for text, _ in expected_rules(chain, after):
                    plan.rules.append(f"add rule {QUALIFIED} {chain} {text}")
        return plan

    @staticmethod
    def _element_changes(name: str, out: list[str], adds: dict[str, int | None]) -> list[str]:
        """Statements that take ``out`` out of set ``name`` and put ``adds`` in with their
        timeouts. ``out`` is added first: deleting it is then never an error, even if the
        kernel expired it since we listed it (and add+delete+add is how a timeout changes
        on kernels before 6.10)."""
        items = [_with_timeout(k, t) for k, t in adds.items()]
        return (
            _elements_statement("add", name, out)
            + _elements_statement("delete", name, out)
            + _elements_statement("add", name, items)
        )

    @staticmethod
    def _element_actions(
        name: str, adds: dict[str, int | None], dels: list[str], present: Iterable[str] = ()
    ) -> list[str]:
        if len(adds) + len(dels) > 20:
            return [f"{name}: added or refreshed {len(adds)}, removed {len(dels)}"]
        present = set(present)
        actions = []
        for key, timeout in adds.items():
            what = "permanent" if timeout is None else f"timeout {timeout}s"
            actions.append(f"{'refreshed' if key in present else 'added'} {key} in {name} ({what})")
        actions.extend(f"removed {key} from {name}" for key in dels)
        return actions

    @staticmethod
    def _set_statement(name: str, spec: tuple[str, frozenset[str], int]) -> str:
        type_, flags, size = spec
        order = [f for f in ("interval", "timeout") if f in flags]
        return (
            f"add set {QUALIFIED} {name} {{ type {type_}; flags {', '.join(order)}; size {size}; }}"
        )

    def apply(self, batch: Batch) -> None:
        for step in batch.steps:
            run(step.argv, input=step.payload)

    def teardown_batch(self, successor: Backend) -> Batch:
        batch = Batch()
        # "add" first makes the delete valid whether or not the table is there.
        batch.steps.append(
            Step(["nft", "-f", "-"], f"add table {QUALIFIED}\ndelete table {QUALIFIED}\n")
        )
        batch.actions.append(f"removed table {QUALIFIED}")
        return batch

    def enforced(self, state: NftState) -> set[IPNetwork]:
        state.require_elements("enforced")
        return {
            elements.network(key)
            for name, nset in state.sets.items()
            if set_family(name) in state.families
            for key in nset.elements
        }

    def enforced_addresses(self, state: NftState) -> set[str]:
        state.require_elements("enforced")
        return {
            key
            for name, nset in state.sets.items()
            if set_family(name) in state.families
            for key in nset.elements  # keyed by canonical text
        }

    def safeguards_ok(self, state: NftState) -> bool:
        sets = {n for n in state.sets if set_family(n)}
        if not {"v4", "v6"} <= sets:
            return False
        for name in sets:
            if state.sets[name].spec() != set_spec(name, self.maxelem):
                return False
        for chain in CHAINS:
            current = state.chains.get(chain)
            if current is None or not current.spec_ok():
                return False
            if current.rules != [canon for _, canon in expected_rules(chain, sets)]:
                return False
        return True
