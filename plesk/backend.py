"""Plesk backend: block through the Plesk Firewall's custom rules.

Plesk's apply rebuilds iptables from its own configuration: every INPUT rule without
``fail2ban-``/``f2b-`` in its ``iptables-save`` line is deleted and FORWARD/OUTPUT are
flushed, so a plain iptables block vanishes at the next apply (anybody's, any time).
Rules that are part of Plesk's configuration survive every apply, so that is where our
blocks live. The rules we own, all found by name (the prefix ``activeresponse-``)::

    activeresponse-allow-localhost-incoming    input    allow  127.0.0.1, ::1
    activeresponse-allow-localhost-forwarding  forward  allow  127.0.0.1, ::1
    activeresponse-deny-incoming-1             input    deny   up to 250 addresses
    activeresponse-deny-forwarding-1           forward  deny   the same addresses
    activeresponse-deny-incoming-2 ...                         the next 250, and so on

The two allow rules are the ones the seed manual asks Plesk users to add by hand; we
create them once and repair them if edited (never a second copy). Blocked addresses
(IPv4 and IPv6 mixed, CIDRs allowed) fill the deny rules in order; a rule is updated by
id with its whole new list, removed when its last address goes, and a deny rule of ours
with no address (which would deny *everyone*) is removed on sight.

Why 250 addresses per rule: one ``--set-rule`` then carries at most ~10 KB of
addresses (IPv6 worst case), far below the kernel's 128 KB limit for one argument and
the size of the text column Plesk keeps a rule in; the rule stays readable in Plesk's
UI; and a block or unblock rewrites one rule per direction, never the whole list. Plesk
still emits one iptables rule per address, so per-packet cost grows with the count as
with the iptables backend.

Every Plesk CLI call is slow (PHP start-up), so none runs under the lock every agent
process waits on. Under the lock a block or unblock only changes the ledger: :meth:`plan`
queues the change (pure, no CLI call, the snapshot is read lazily and not needed) and
:meth:`apply` records a request. :meth:`settle`, after the lock is released, runs
*rounds* through :class:`~plesk.coalesce.Queue`: read Plesk's rules (``--list-json``),
:meth:`plan_sync` them against the ledger's active blocks, run the ``--set-rule`` /
``--remove-rule`` commands, ``--apply``. One process runs rounds at a time; the others
return at once, their requests covered by the running one. A burst of alerts becomes a
few rounds whatever its size; a failed round leaves a durable pending marker that the
next change or :meth:`retry_pending` (``activeresponse expire``) retries.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterable

from activeresponse.backends.base import FAMILIES, Backend, Batch, Step
from activeresponse.errors import ActiveResponseError, ConfigError
from activeresponse.logsetup import get_logger

from .coalesce import Queue, QueueStatus
from .detect import PleskInfo, detect
from .firewall_cli import ApplyBusy, FirewallCLI, FirewallRule

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

    from activeresponse.addresses import IPNetwork
    from activeresponse.config import Config
    from activeresponse.model import Block

PREFIX = "activeresponse-"
DIRECTIONS = ("input", "forward")
_WORD = {"input": "incoming", "forward": "forwarding"}
ALLOW_NAME = {d: f"{PREFIX}allow-localhost-{_WORD[d]}" for d in DIRECTIONS}
DENY_PREFIX = {d: f"{PREFIX}deny-{_WORD[d]}-" for d in DIRECTIONS}
LOCALHOST = ("127.0.0.1", "::1")
ADDRESSES_PER_RULE = 250

log = get_logger("activeresponse." + __name__)  # under our configured logger tree


def canonical(text: str) -> str | None:
    """Our canonical text of an address or network as Plesk lists it (``192.0.2.7/32``
    and ``192.0.2.7`` are the same), or None if it is neither."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _family(text: str) -> int:
    return 6 if ":" in text else 4


def _deny_index(rule: FirewallRule, direction: str) -> int | None:
    suffix = rule.name[len(DENY_PREFIX[direction]) :]
    return int(suffix) if suffix.isdigit() else None


class PleskState:
    """The ``--list-json`` snapshot, sorted into our rules per direction. Built from
    ``rules``, or lazily from ``loader`` (the CLI call) on first use; ``status`` (the
    pending queue) likewise."""

    def __init__(
        self,
        rules: list[FirewallRule] | None = None,
        *,
        loader: Callable[[], list[FirewallRule]] | None = None,
        status: Callable[[], QueueStatus] | QueueStatus | None = None,
    ) -> None:
        self._rules = rules
        self._loader = loader
        self._status = status
        self._allow: dict[str, list[FirewallRule]] = {}
        self._deny: dict[str, list[FirewallRule]] = {}

    @property
    def loaded(self) -> bool:
        return self._rules is not None

    @property
    def rules(self) -> list[FirewallRule]:
        if self._rules is None:
            if self._loader is None:
                raise ValueError("PleskState without rules or loader")
            self._rules = self._loader()
        return self._rules

    @property
    def status(self) -> QueueStatus | None:
        if callable(self._status):
            self._status = self._status()
        return self._status

    def _sort(self) -> None:
        if self._allow:
            return
        self._allow = {d: [] for d in DIRECTIONS}
        self._deny = {d: [] for d in DIRECTIONS}
        for rule in sorted(self.rules, key=FirewallRule.sort_key):
            for d in DIRECTIONS:
                if rule.name == ALLOW_NAME[d]:
                    self._allow[d].append(rule)
                elif rule.name.startswith(DENY_PREFIX[d]):
                    self._deny[d].append(rule)
        for d in DIRECTIONS:
            # Numbered order; a name we did not number goes last (and is renumbered).
            self._deny[d].sort(key=lambda r, d=d: (_deny_index(r, d) or 1 << 30, r.sort_key()))

    @property
    def allow(self) -> dict[str, list[FirewallRule]]:
        """Our localhost allow rules per direction (normally one each), by id."""
        self._sort()
        return self._allow

    @property
    def deny(self) -> dict[str, list[FirewallRule]]:
        """Our deny rules per direction, in their numbered order."""
        self._sort()
        return self._deny

    def denied(self, direction: str) -> list[str]:
        """Canonical addresses our deny rules hold for this direction."""
        out: list[str] = []
        for rule in self.deny[direction]:
            out.extend(a for a in map(canonical, rule.remote) if a is not None)
        return out


def allow_ok(rule: FirewallRule, direction: str) -> bool:
    return (
        rule.direction == direction
        and rule.action == "allow"
        and not rule.ports
        and sorted(filter(None, map(canonical, rule.remote))) == sorted(LOCALHOST)
        and len(rule.remote) == len(LOCALHOST)
    )


class _Planner:
    """Builds one batch (pure)."""

    def __init__(self, cli: FirewallCLI, per_rule: int) -> None:
        self.cli = cli
        self.per_rule = per_rule
        self.batch = Batch()
        self.removals: list[tuple[list[str], str]] = []

    def step(self, argv: list[str], action: str) -> None:
        self.batch.steps.append(Step(argv, ""))
        self.batch.actions.append(action)

    def safeguard(self, state: PleskState, d: str) -> None:
        rules = state.allow[d]
        name = ALLOW_NAME[d]
        wanted = list(LOCALHOST)
        if not rules:
            self.step(
                self.cli.set_rule_argv(name, d, "allow", wanted),
                f"created Plesk rule {name} ({d} allow from {', '.join(LOCALHOST)})",
            )
            return
        if not allow_ok(rules[0], d):
            self.step(
                self.cli.set_rule_argv(name, d, "allow", wanted, rules[0].id),
                f"repaired Plesk rule {name} (id {rules[0].id}): {d} allow from "
                f"{', '.join(LOCALHOST)}",
            )
        for extra in rules[1:]:
            self.removals.append(
                (self.cli.remove_rule_argv(extra.id), f"removed duplicate {name} (id {extra.id})")
            )

    def denies(
        self, state: PleskState, d: str, keep: Callable[[str], bool], add: list[str]
    ) -> None:
        """``keep(address)``: whether an address already there stays; ``add``: the
        addresses to be there (in order). Oversized rules are split, duplicates dropped,
        a rule left empty removed."""
        seen: set[str] = set()
        lists: list[list[str]] = []
        for rule in state.deny[d]:
            kept = []
            for address in map(canonical, rule.remote):
                if address is not None and address not in seen and keep(address):
                    kept.append(address)
                    seen.add(address)
            lists.append(kept)
        missing = [a for a in dict.fromkeys(add) if a not in seen]
        for kept in lists:
            if len(kept) > self.per_rule:
                missing[:0] = kept[self.per_rule :]
                del kept[self.per_rule :]
        for kept in lists:
            room = self.per_rule - len(kept)
            if room > 0 and missing:
                kept.extend(missing[:room])
                del missing[:room]
        used: set[int | None] = {_deny_index(r, d) for r in state.deny[d]}
        index = 0
        while missing:
            index += 1
            if index in used:
                continue
            used.add(index)
            chunk, missing = missing[: self.per_rule], missing[self.per_rule :]
            name = f"{DENY_PREFIX[d]}{index}"
            self.step(
                self.cli.set_rule_argv(name, d, "deny", chunk),
                f"created Plesk rule {name} ({d} deny): {', '.join(chunk)}",
            )
        for rule, kept in zip(state.deny[d], lists):
            self._update(rule, d, kept, used)

    def _update(self, rule: FirewallRule, d: str, kept: list[str], used: set[int | None]) -> None:
        before = [canonical(a) for a in rule.remote]
        name = rule.name
        if _deny_index(rule, d) is None:  # a name we do not number: give it a free number
            index = 1
            while index in used:
                index += 1
            used.add(index)
            name = f"{DENY_PREFIX[d]}{index}"
        if not kept:
            why = "no address left" if rule.remote else "it had no address, so it denied everyone"
            self.removals.append(
                (self.cli.remove_rule_argv(rule.id), f"removed Plesk rule {rule.name} ({why})")
            )
            return
        fields_ok = rule.direction == d and rule.action == "deny" and not rule.ports
        if kept == before and fields_ok and name == rule.name:
            return
        argv = self.cli.set_rule_argv(name, d, "deny", kept, rule.id)
        added = [a for a in kept if a not in before]
        gone = [a for a in before if a not in kept]
        if added:
            self.batch.actions.append(f"added {', '.join(added)} to Plesk rule {name}")
        if gone:
            shown = ", ".join(a or "(not an address)" for a in gone)
            self.batch.actions.append(f"removed {shown} from Plesk rule {name}")
        if not fields_ok or name != rule.name:
            self.batch.actions.append(f"repaired Plesk rule {name} (id {rule.id}): {d} deny")
        elif not added and not gone:
            self.batch.actions.append(f"rewrote Plesk rule {name} (duplicates or order)")
        self.batch.steps.append(Step(argv, ""))

    def finish(self) -> Batch:
        for argv, action in self.removals:
            self.step(argv, action)
        return self.batch


QUEUED = "(queued for Plesk)"


class PleskBackend(Backend):
    name = "plesk"

    def __init__(
        self,
        info: PleskInfo,
        state_dir: str,
        blocks: Callable[[], list[Block]],
        *,
        per_rule: int = ADDRESSES_PER_RULE,
        busy_wait: float = 120.0,
        busy_delay: float = 1.0,
    ) -> None:
        """``blocks``: the ledger's active blocks (what Plesk's rules must hold)."""
        if not info.present:
            raise ConfigError(
                "backend plesk: this host has no Plesk (no /etc/psa/psa.conf or version file)"
            )
        if info.cli is None:
            raise ConfigError(
                "backend plesk: the Plesk Firewall extension is not installed "
                "(install it from Plesk's Extensions Catalog, or use another backend)"
            )
        if per_rule < 1:
            raise ValueError("per_rule must be positive")
        self.info = info
        self.cli = FirewallCLI(info.cli)
        self.blocks = blocks
        self.per_rule = per_rule
        self.queue = Queue(os.path.join(state_dir, "plesk"))
        self.busy_wait = busy_wait
        self.busy_delay = busy_delay
        self._requested = False

    @classmethod
    def from_config(cls, config: Config) -> PleskBackend:
        path = config.ledger_path

        def active_blocks() -> list[Block]:
            from activeresponse.ledger import Ledger

            ledger = Ledger(path)
            try:
                return ledger.active()
            finally:
                ledger.close()

        return cls(detect(config.plesk_root), config.state_dir, active_blocks)

    def describe(self) -> str:
        text = f"plesk: {self.info.describe()}"
        status = self.queue.status()
        return f"{text}; {status.describe()}" if status.pending else text

    # -- reading and planning ------------------------------------------------------------

    def read(self, families: Iterable[int] = FAMILIES) -> PleskState:
        """The snapshot; ``--list-json`` runs when a plan or a question first needs it
        (a queued block or unblock never does)."""
        return PleskState(loader=self.cli.list_rules, status=self.queue.status)

    def read_for_change(self, families: Iterable[int] = FAMILIES) -> PleskState:
        # One Plesk configuration serves every family, and its safeguards are put in place
        # by the rounds in settle(): nothing to read here (it would cost a --list-json).
        return self.read(families)

    def plan(
        self,
        state: PleskState,
        *,
        add: Iterable[Block] = (),
        remove: Iterable[IPNetwork] = (),
    ) -> Batch:
        """Queue entries: at :meth:`settle`, Plesk's rules are brought in line with the
        ledger (which this change is part of) and applied. Pure; runs no command."""
        batch = Batch()
        adds = [b.address for b in add]
        for address in adds:
            batch.steps.append(Step([QUEUED, "deny", address], ""))
            batch.actions.append(
                f"queued {address} for Plesk's deny rules (incoming, forwarding); "
                "applied after the lock is released"
            )
        for net in remove:
            address = _text(net)
            if address not in adds:
                batch.steps.append(Step([QUEUED, "lift", address], ""))
                batch.actions.append(
                    f"queued the removal of {address} from Plesk's deny rules; "
                    "applied after the lock is released"
                )
        return batch

    def plan_sync(
        self, state: PleskState, blocks: Iterable[Block], families: Iterable[int]
    ) -> Batch:
        """The exact CLI commands that make our rules hold exactly ``blocks`` (for these
        families; addresses of other families stay), with both allow rules. Pure."""
        fams = set(families)
        wanted = [b.address for b in blocks if b.family in fams]
        wanted_set = set(wanted)

        def keep(address: str) -> bool:
            return address in wanted_set or _family(address) not in fams

        planner = _Planner(self.cli, self.per_rule)
        for d in DIRECTIONS:
            planner.safeguard(state, d)
            planner.denies(state, d, keep, wanted)
        return planner.finish()

    def enforced(self, state: PleskState) -> set[IPNetwork]:
        """Addresses denied in both directions by Plesk's configuration. The kernel has
        them once no apply is pending (``state.status.pending``)."""
        common = set(state.denied("input")) & set(state.denied("forward"))
        return {ipaddress.ip_network(a) for a in common}

    def safeguards_ok(self, state: PleskState) -> bool:
        return all(len(state.allow[d]) == 1 and allow_ok(state.allow[d][0], d) for d in DIRECTIONS)

    # -- changing and enforcing ------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        """Record that Plesk's rules must follow the ledger; runs no Plesk command (that
        is :meth:`settle`'s job, outside the lock). Works for :meth:`plan` and
        :meth:`plan_sync` batches alike: settle recomputes the commands from a fresh
        snapshot and the committed ledger."""
        if batch:
            # Durable at once (a crash before settle still leaves a round pending); the
            # request settle makes after the commit is the one rounds are ordered by.
            self.queue.bump("wanted")
            self._requested = True

    def settle(self) -> None:
        if self._requested:
            self._requested = False
            self.queue.bump("wanted")
        self.retry_pending()

    def retry_pending(self) -> int:
        """Run rounds while anything is pending (a change, a failed or interrupted apply),
        unless another process is running them (it covers ours). The number of applies
        this process ran. Raises FirewallError (StateError if the ledger cannot be read)
        if a round fails; the pending marker stays and the next call (any later change,
        or ``activeresponse expire``) tries again."""
        applies = 0
        while self.queue.status().pending:
            with self.queue.exclusive() as mine:
                if not mine:
                    log.debug("another process is updating Plesk's firewall; it covers ours")
                    return applies
                applies += self._rounds()
            # Look again: a request made after our last look, while we held the lock.
        return applies

    def pending(self) -> QueueStatus:
        return self.queue.status()

    def ensure_safeguards(self) -> None:
        """Create or repair the two localhost allow rules now (idempotent: found by name),
        with the deny rules in line with the ledger. Call it outside the lock."""
        self.queue.bump("wanted")
        self.retry_pending()

    def _rounds(self) -> int:
        applies = 0
        while True:
            status = self.queue.status()
            if not status.pending:
                return applies
            try:
                if status.sync_pending:
                    self._sync()
                changed = self.queue.read("changed")
                if changed > self.queue.read("applied"):
                    started = time.monotonic()
                    self._apply_waiting()
                    self.queue.reach("applied", changed)
                    applies += 1
                    log.debug("applied Plesk's firewall in %.1fs", time.monotonic() - started)
                self.queue.reach("synced", status.wanted)
            except ActiveResponseError as exc:  # the CLI, or the ledger could not be read
                self.queue.record_failure(str(exc))
                log.warning("Plesk firewall update failed (kept pending, retried later): %s", exc)
                raise
            self.queue.clear_failure()

    def _sync(self) -> None:
        """Bring Plesk's rules in line with the ledger (read after the counters)."""
        batch = self.plan_sync(self.read(), self.blocks(), FAMILIES)
        if not batch:
            return
        self.queue.bump("changed")  # before: a crash half-way still leaves an apply due
        try:
            for step in batch.steps:
                self.cli.call(step.argv)
        finally:
            self.queue.bump("changed")
        for action in batch.actions:
            log.debug("%s", action)

    def _apply_waiting(self) -> None:
        """``--apply``; while another apply (an admin's, say) is running, wait for it."""
        deadline = time.monotonic() + self.busy_wait
        while True:
            try:
                self.cli.apply(auto_confirm=True)
                return
            except ApplyBusy:
                if time.monotonic() >= deadline:
                    raise
                log.info("a Plesk firewall apply is already running; waiting for it")
                time.sleep(self.busy_delay)


def _text(net: IPNetwork) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
