"""iptables backend: one DROP rule per blocked address in our own chain.

Layout, per family (iptables for IPv4, ip6tables for IPv6)::

    INPUT / FORWARD:  1  -s 127.0.0.1/32 (::1/128) -j ACCEPT    the localhost safeguard
                      2  -j ACTIVERESPONSE                       our chain
                      ... everybody else's rules
    ACTIVERESPONSE:   -s <address> -j DROP                        one per block

Every rule we write carries ``-m comment --comment activeresponse``; we only ever delete
tagged rules. Each change is one ``*-restore --noflush`` transaction built from an
``*-save`` snapshot, with the variant (nft or legacy) the system's ``iptables`` uses.
This is what OSSEC's script does, made atomic and safe; per-packet cost grows with the
number of rules, so large block counts belong on the ipset or nftables backends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import FirewallError
from ..model import Block
from ..runner import run, which
from .base import FAMILIES, Backend, Batch, Step

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from ..addresses import IPNetwork

CHAIN = "ACTIVERESPONSE"
TAG = "activeresponse"
HOOKS = ("INPUT", "FORWARD")
LOOPBACK = {4: "127.0.0.1/32", 6: "::1/128"}
_PREFIX = {4: "iptables", 6: "ip6tables"}

SAFEGUARD = {f: f"-s {LOOPBACK[f]} -m comment --comment {TAG} -j ACCEPT" for f in FAMILIES}
JUMP = f"-m comment --comment {TAG} -j {CHAIN}"


def drop_rule(net: IPNetwork) -> str:
    return f"-s {net} -m comment --comment {TAG} -j DROP"


def _tokens(text: str) -> list[str]:
    """Split an iptables-save rule the way iptables-restore does (double quotes,
    backslash escapes)."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = have = False
    for ch in text:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            have = True
        elif ch in " \t" and not quoted:
            if cur or have:
                out.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(ch)
    if cur or have:
        out.append("".join(cur))
    return out


class Rule:
    """One rule from ``*-save``: its text after ``-A CHAIN`` and what we need of it."""

    __slots__ = ("match_set", "source", "tagged", "target", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        tokens = _tokens(text)
        opts: dict[str, str] = {}
        for i, tok in enumerate(tokens[:-1]):
            if tok in ("-s", "--source", "-j", "--jump", "--comment", "--match-set"):
                key = "set" if tok == "--match-set" else tok.lstrip("-")[0]
                # "--match-set NAME src": the set and the direction it is looked up with.
                value = " ".join(tokens[i + 1 : i + 3]) if key == "set" else tokens[i + 1]
                opts.setdefault(key, value)
        self.tagged = opts.get("c") == TAG
        self.target = opts.get("j", "")
        self.source = opts.get("s")
        self.match_set = opts.get("set")


class FamilyState:
    """The filter table of one family, as ``*-save -t filter`` printed it."""

    def __init__(self, family: int, chains: set[str], rules: dict[str, list[Rule]]) -> None:
        self.family = family
        self.chains = chains
        self.rules = rules

    def our_drops(self) -> dict[str, list[Rule]]:
        """Source text (``a.b.c.d/32``) -> our DROP rules for it (normally one)."""
        found: dict[str, list[Rule]] = {}
        for rule in self.rules.get(CHAIN, []):
            if rule.tagged and rule.target == "DROP" and rule.source:
                found.setdefault(rule.source, []).append(rule)
        return found

    def hook_ok(self, hook: str) -> bool:
        """Safeguard first, jump second, and no other rule of ours in this chain."""
        rules = self.rules.get(hook, [])
        tagged = [r for r in rules if r.tagged]
        return (
            len(tagged) == 2
            and len(rules) >= 2
            and rules[0].tagged
            and rules[0].target == "ACCEPT"
            and rules[0].source == LOOPBACK[self.family]
            and rules[1].tagged
            and rules[1].target == CHAIN
        )


def parse_save(text: str, family: int) -> FamilyState:
    """Parse the ``*filter`` table of ``*-save`` output."""
    chains: set[str] = set()
    rules: dict[str, list[Rule]] = {}
    in_filter = False
    for line in text.splitlines():
        if line.startswith("*"):
            in_filter = line == "*filter"
        elif not in_filter:
            continue
        elif line.startswith(":"):
            chains.add(line[1:].split(" ", 1)[0])
        elif line.startswith("-A "):
            chain, _, rest = line[3:].partition(" ")
            rules.setdefault(chain, []).append(Rule(rest))
    return FamilyState(family, chains, rules)


def _source_text(net: IPNetwork) -> str:
    # iptables-save prints sources with their prefix length, in compressed form.
    return f"{net.network_address}/{net.prefixlen}"


def plan_hooks(state: FamilyState) -> tuple[list[str], list[str]]:
    """restore lines and actions that put the localhost safeguard first and the jump to our
    chain second in INPUT and FORWARD, where they are not already."""
    lines: list[str] = []
    actions: list[str] = []
    fam = "IPv4" if state.family == 4 else "IPv6"
    for hook in HOOKS:
        if not state.hook_ok(hook):
            lines.extend(f"-D {hook} {r.text}" for r in state.rules.get(hook, []) if r.tagged)
            lines.append(f"-I {hook} 1 {SAFEGUARD[state.family]}")
            lines.append(f"-I {hook} 2 {JUMP}")
            actions.append(
                f"put localhost safeguard and jump to {CHAIN} at the top of {hook} ({fam})"
            )
    return lines, actions


class XtablesBackend(Backend):
    """What the iptables and ipset backends share: the variant's save/restore tools, our
    chain, and the hook layout (safeguard first, jump second in INPUT and FORWARD).
    Subclasses say what our chain holds (:meth:`chain_content`)."""

    def __init__(self, variant: str = "auto") -> None:
        self.variant = detect_variant() if variant == "auto" else variant

    def location(self) -> str:
        return f"INPUT+FORWARD -> {CHAIN}"

    def tool(self, family: int, kind: str) -> str:
        """``iptables-nft-save`` etc.; plain ``iptables-save`` on systems without the
        variant names (then it is the system's only variant)."""
        name = f"{_PREFIX[family]}-{self.variant}-{kind}"
        if which(name):
            return name
        plain = f"{_PREFIX[family]}-{kind}"
        if which(plain):
            return plain
        raise FirewallError(f"{name} not found: install the iptables package")

    def read_tables(self, families: Iterable[int]) -> dict[int, FamilyState]:
        return {
            f: parse_save(run([self.tool(f, "save"), "-t", "filter"]).stdout, f) for f in families
        }

    def chain_content(
        self, state: FamilyState, add: list[IPNetwork], remove: list[IPNetwork], exact: bool
    ) -> tuple[list[str], list[str]]:
        """restore lines and actions for the rules inside our chain. With ``exact``, the
        chain is to hold what this backend wants and nothing else of ours."""
        raise NotImplementedError

    def plan_family(
        self, state: FamilyState, add: list[IPNetwork], remove: list[IPNetwork], exact: bool
    ) -> tuple[list[str], list[str]]:
        """Our chain (created if missing), its content, then the hooks into it."""
        lines: list[str] = []
        actions: list[str] = []
        if CHAIN not in state.chains:
            lines.append(f":{CHAIN} - [0:0]")
            actions.append(f"created chain {CHAIN} ({'IPv4' if state.family == 4 else 'IPv6'})")
        for part in (self.chain_content(state, add, remove, exact), plan_hooks(state)):
            lines.extend(part[0])
            actions.extend(part[1])
        return lines, actions

    def restore_batch(
        self, per_family: dict[int, tuple[list[str], list[str]]], batch: Batch | None = None
    ) -> Batch:
        """One ``*-restore --noflush`` step per family that has lines (appended to
        ``batch``)."""
        batch = Batch() if batch is None else batch
        for family, (lines, actions) in per_family.items():
            if lines:
                payload = "*filter\n" + "\n".join(lines) + "\nCOMMIT\n"
                batch.steps.append(
                    Step([self.tool(family, "restore"), "-w", "10", "--noflush"], payload)
                )
                batch.actions.extend(actions)
        return batch

    def apply(self, batch: Batch) -> None:
        for step in batch.steps:
            run(step.argv, input=step.payload)

    def unhook_batch(self, batch: Batch) -> Batch:
        """Our hooks out of INPUT/FORWARD and our chain gone, every family."""
        per_family = {}
        for family, fs in self.read_tables(FAMILIES).items():
            lines = [f"-D {h} {r.text}" for h in HOOKS for r in fs.rules.get(h, []) if r.tagged]
            if CHAIN in fs.chains:
                lines += [f"-F {CHAIN}", f"-X {CHAIN}"]
            name = "IPv4" if family == 4 else "IPv6"
            per_family[family] = (lines, [f"removed our hooks and chain {CHAIN} ({name})"])
        return self.restore_batch(per_family, batch)

    def teardown_batch(self, successor: Backend) -> Batch:
        # Another xtables backend's exact sync has already replaced our chain's content
        # and uses the same hooks and chain.
        return Batch() if isinstance(successor, XtablesBackend) else self.unhook_batch(Batch())

    def hooks_ok(self, tables: dict[int, FamilyState]) -> bool:
        return all(fs.hook_ok(h) for fs in tables.values() for h in HOOKS)


# iptables finds the rule a -D names by searching the chain (iptables-nft compares every
# rule), so thousands of deletes from a long chain take minutes. Beyond this many, the
# chain is flushed and refilled with what stays, in the same transaction: as atomic, and
# with 100,000 rules about 2 s instead of a timeout.
REBUILD_AFTER = 200


def _rebuild(
    state: FamilyState, wanted: dict[str, IPNetwork], gone: set[str], exact: bool
) -> list[str]:
    """restore lines that flush our chain and refill it with what should stay."""
    keep: list[str] = []
    seen: set[str] = set()
    for rule in state.rules.get(CHAIN, []):
        if not rule.tagged:
            keep.append(rule.text)  # somebody else's rule in our chain: left alone
        elif rule.target == "DROP" and rule.source:
            if rule.source in seen or rule.source in gone or (exact and rule.source not in wanted):
                continue
            seen.add(rule.source)
            keep.append(rule.text)
        elif not exact:
            keep.append(rule.text)
    keep.extend(drop_rule(net) for src, net in wanted.items() if src not in seen)
    return [f"-F {CHAIN}", *(f"-A {CHAIN} {text}" for text in keep)]


class IptablesBackend(XtablesBackend):
    name = "iptables"

    def describe(self) -> str:
        return f"iptables ({self.variant})"

    def read(self, families: Iterable[int] = FAMILIES) -> dict[int, FamilyState]:
        return self.read_tables(families)

    def chain_content(
        self, state: FamilyState, add: list[IPNetwork], remove: list[IPNetwork], exact: bool
    ) -> tuple[list[str], list[str]]:
        """One DROP rule per address. With ``exact``, ``add`` is the whole wanted set:
        everything else of ours goes, duplicates included."""
        lines: list[str] = []
        actions: list[str] = []
        present = state.our_drops()
        wanted = {_source_text(n): n for n in add}
        for src, net in wanted.items():
            rules = present.get(src)
            if not rules:
                lines.append(f"-A {CHAIN} {drop_rule(net)}")
                actions.append(f"added DROP {net} in {CHAIN}")
            elif exact and len(rules) > 1:
                lines.extend(f"-D {CHAIN} {r.text}" for r in rules[1:])
                actions.append(f"removed {len(rules) - 1} duplicate DROP {src}")
        gone = set(present) - set(wanted) if exact else {_source_text(n) for n in remove}
        for src in sorted(gone):
            for rule in present.get(src, []):
                lines.append(f"-D {CHAIN} {rule.text}")
                actions.append(f"removed DROP {src} from {CHAIN}")
        if exact:
            # Rules of ours that are not per-address drops (another backend's set lookups
            # after a switch of backend) would keep blocking what the ledger no longer holds.
            for rule in state.rules.get(CHAIN, []):
                if rule.tagged and not (rule.target == "DROP" and rule.source):
                    lines.append(f"-D {CHAIN} {rule.text}")
                    actions.append(f"removed foreign rule of ours from {CHAIN}: {rule.text}")
        if sum(line.startswith("-D ") for line in lines) > REBUILD_AFTER:
            lines = _rebuild(state, wanted, gone, exact)
        return lines, actions

    def plan(
        self,
        state: dict[int, FamilyState],
        *,
        add: Iterable[Block] = (),
        remove: Iterable[IPNetwork] = (),
    ) -> Batch:
        adds = [b.network for b in add]
        removes = list(remove)
        return self.restore_batch(
            {
                f: self.plan_family(
                    state[f],
                    [n for n in adds if n.version == f],
                    [n for n in removes if n.version == f],
                    exact=False,
                )
                for f in sorted(state)
            }
        )

    def plan_sync(
        self, state: dict[int, FamilyState], blocks: Iterable[Block], families: Iterable[int]
    ) -> Batch:
        nets = [b.network for b in blocks]
        return self.restore_batch(
            {
                f: self.plan_family(state[f], [n for n in nets if n.version == f], [], exact=True)
                for f in families
            }
        )

    def enforced(self, state: dict[int, FamilyState]) -> set[IPNetwork]:
        import ipaddress

        return {ipaddress.ip_network(src) for fs in state.values() for src in fs.our_drops()}

    def safeguards_ok(self, state: dict[int, FamilyState]) -> bool:
        return self.hooks_ok(state)


def detect_variant() -> str:
    """``nft`` or ``legacy``: whichever the system's ``iptables`` command is."""
    path = which("iptables")
    if path is None:
        raise FirewallError("iptables not found: install the iptables package")
    real = os.path.basename(os.path.realpath(path))
    if "nft" in real:
        return "nft"
    if "legacy" in real:
        return "legacy"
    return "nft" if "nf_tables" in run([path, "-V"]).stdout else "legacy"
