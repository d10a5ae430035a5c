"""The operations every entry point shares: block, unblock, expire, restore.

Data flows one way: request -> guard -> ledger -> firewall -> log. Each operation holds
the lock, changes the ledger inside one SQLite transaction, applies the kernel batch
inside that same transaction, and commits only when the kernel accepted it: a refused
batch leaves neither a ledger change nor a partial rule. The kernel follows the ledger:
whatever a crash leaves half-done, the next ``expire``/``restore`` sync repairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from . import agentconf, logsetup
from .addresses import network_text, parse_network
from .backends.base import FAMILIES, Backend, Batch
from .config import Config
from .errors import ActiveResponseError, CommandError, Refused
from .guard import Guard
from .ledger import Ledger
from .lock import Lock
from .logsetup import get_logger
from .model import Block

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPAddress, IPNetwork

log = get_logger(__name__)

AGENT_ORIGINS = ("ossec", "wazuh")


class Runtime:
    """What one invocation works with, built lazily from the config so the agent's path
    only pays for what it uses."""

    def __init__(self, config: Config, program: str | None = None) -> None:
        self.config = config
        self.program = program
        self.tree = agentconf.find_tree(program, config.agent_root)
        self._ledger: Ledger | None = None
        self._backend: Backend | None = None
        self._guard: Guard | None = None
        self._interfaces: tuple[set, set] | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.config.ledger_path)
        return self._ledger

    @property
    def backend(self) -> Backend:
        """The backend in use; with ``backend = "auto"``, what auto means here (a set
        backend it moved to earlier is recorded in the ledger and stays)."""
        if self._backend is None:
            from .backends import select

            sticky = self.ledger.get_meta("auto_backend") if self.config.backend == "auto" else None
            self._backend = select(self.config, sticky)
        return self._backend

    def set_backend(self, backend: Backend) -> None:
        self._backend = backend

    def backend_named(self, name: str) -> Backend:
        from .backends import select

        return select(self.config, name=name)

    def host_interfaces(self) -> tuple[set[IPAddress], set[IPAddress]]:
        """This host's (addresses, broadcasts), read from the kernel once per runtime:
        the agent asks for them up to three times per call (is the agent's srcip our
        own? the guard; the notification)."""
        if self._interfaces is None:
            from .hostaddrs import interface_addresses

            self._interfaces = interface_addresses()
        return self._interfaces

    @property
    def guard(self) -> Guard:
        if self._guard is None:
            self._guard = Guard(
                allowlist=[parse_network(a) for a in self.config.allowlist],
                managers=agentconf.manager_addresses(self.tree),
                interfaces=self.host_interfaces,
                widest_v4=self.config.widest_block_v4,
                widest_v6=self.config.widest_block_v6,
            )
        return self._guard

    def lock(self) -> Lock:
        return Lock(self.config.lock_file, self.config.lock_timeout)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def apply_change(
    backend: Backend, *, add: Iterable[Block] = (), remove: Iterable[IPNetwork] = ()
) -> Batch:
    """Read the kernel, plan, apply. Another tool may change the table between our read
    and our apply (a rule we delete vanishes); then read and plan once more. The read
    skips listing every blocked element where the backend can (``read_for_change``): a
    change of a few addresses must not cost a listing of 100,000."""
    add, remove = list(add), list(remove)
    families = sorted({b.family for b in add} | {n.version for n in remove})
    for attempt in (1, 2):
        batch = backend.plan(backend.read_for_change(families), add=add, remove=remove)
        if not batch:
            return batch
        try:
            backend.apply(batch)
            return batch
        except CommandError:
            if attempt == 2:
                raise
            log.info("firewall changed under us; reading it again")
    raise AssertionError("unreachable")


def _note_backend(rt: Runtime) -> None:
    """Record which backend's rules are in the kernel (first use); a later change of
    backend is then noticed and migrated by the expiry sweep or restore."""
    if rt.ledger.get_meta("backend") is None:
        rt.ledger.set_meta("backend", rt.backend.name)


def migrate_blocks(rt: Runtime, target: Backend, now: float) -> list[str]:
    """Move every live block to ``target`` with no moment where one is unenforced: the
    target enforces all of them first, then the old backend's rules and sets go. Call
    under the lock, inside a ledger transaction."""
    ledger = rt.ledger
    old_name = ledger.get_meta("backend") or rt.backend.name
    live = [b for b in ledger.active() if not b.expired(now)]
    batch = target.plan_sync(target.read(FAMILIES), live, FAMILIES)
    if batch:
        target.apply(batch)
    report = [f"migrated {len(live)} block(s) from {old_name} to {target.name}"]
    if old_name != target.name:
        try:
            old = rt.backend_named(old_name)
            leftover = old.teardown_batch(target)
            if leftover:
                old.apply(leftover)
            report.extend(f"migrated: {action}" for action in leftover.actions)
        except ActiveResponseError as exc:  # e.g. Plesk gone: nothing of ours to reach
            report.append(f"left the {old_name} backend's rules in place: {exc}")
    ledger.set_meta("backend", target.name)
    rt.set_backend(target)
    return report


def _pending_migration(rt: Runtime) -> Backend | None:
    """The backend blocks must move to now, if any: the config (or auto's choice) no
    longer names the backend whose rules are in the kernel, or auto's iptables holds
    more than auto_set_threshold blocks."""
    from .backends import set_backend_here

    ledger = rt.ledger
    current = rt.backend
    if (
        rt.config.backend == "auto"
        and current.name == "iptables"
        and ledger.count_active() > rt.config.auto_set_threshold
    ):
        target = set_backend_here()
        ledger.set_meta("auto_backend", target)
        return rt.backend_named(target)
    in_kernel = ledger.get_meta("backend")
    if in_kernel is not None and in_kernel != current.name:
        return current
    return None


def sync(rt: Runtime, families: Iterable[int] = FAMILIES) -> Batch:
    """Make the kernel hold exactly the ledger's active blocks, safeguards first."""
    families = list(families)
    blocks = rt.ledger.active()
    batch = rt.backend.plan_sync(rt.backend.read(families), blocks, families)
    if batch:
        rt.backend.apply(batch)
    return batch


class BlockResult:
    __slots__ = ("batch", "block", "new")

    def __init__(self, block: Block, new: bool, batch: Batch) -> None:
        self.block = block
        self.new = new
        self.batch = batch


def allowed_networks(ledger: Ledger, now: float) -> list[IPNetwork]:
    """Allow entries made with ``activeresponse allow`` / ``unblock --allow-for``."""
    return [parse_network(address) for address, _, _ in ledger.active_allows(now)]


def escalated_timeout(
    config: Config, base: int, offence: int, agent_repeats: list[int] = ()
) -> int:
    """Duration of the ``offence``-th block of an address within the repeat window: the
    configured multiplier (capped by repeat_max_timeout, never below ``base``), and never
    shorter than the agent's own repeated_offenders timeout for it, since the agent's
    ``delete`` comes only after that."""
    multipliers = config.repeat_multipliers
    factor = multipliers[min(offence, len(multipliers)) - 1]
    timeout = max(base, min(int(base * factor), config.repeat_max_timeout))
    if agent_repeats and offence >= 2:
        timeout = max(timeout, agent_repeats[min(offence - 2, len(agent_repeats) - 1)])
    return timeout


def block(
    rt: Runtime,
    net: IPNetwork,
    *,
    timeout: float | None,
    origin: str,
    alert_id: str = "",
    rule_id: str = "",
    user: str = "",
    reason: str = "",
    force_width: bool = False,
    protected: dict | None = None,
    escalate: bool = False,
    agent_repeats: list[int] = (),
    now: float | None = None,
    notice: dict | None = None,
) -> BlockResult:
    """Block ``net`` for ``timeout`` seconds (``None``: permanent). Blocking an address
    that is already blocked extends it and creates no second rule. With ``escalate``, a
    repeat offender's timeout grows (repeat_* settings). Once the block is committed, it
    is reported (notify.record; ``notice``: the agent's alert and where the address came
    from)."""
    now = time.time() if now is None else now
    with rt.lock():
        ledger = rt.ledger
        rt.guard.check(
            net,
            temporary_allows=allowed_networks(ledger, now),
            force_width=force_width,
            protected=protected,
        )
        address = network_text(net)
        offence = 1 + ledger.recent_count(address, now - rt.config.repeat_window)
        if escalate and timeout is not None:
            timeout = escalated_timeout(rt.config, int(timeout), offence, list(agent_repeats))
        wanted = Block(
            net,
            created=now,
            expires=None if timeout is None else now + timeout,
            origin=origin,
            alert_id=alert_id,
            rule_id=rule_id,
            user=user,
            reason=reason,
            offence=offence,
        )
        with ledger.transaction():
            stored, new = ledger.upsert(wanted)
            # Always (re)assert the rule: if something wiped it, this call repairs it.
            batch = apply_change(rt.backend, add=[stored])
            _note_backend(rt)
    rt.backend.settle()
    level = _routine(origin)
    if new:
        log.log(
            level,
            "blocked %s until %s (%s rule %s alert %s%s)",
            stored.address,
            _when(stored.expires),
            origin,
            rule_id or "-",
            alert_id or "-",
            f", offence {offence}" if offence > 1 else "",
        )
    else:
        log.log(
            level,
            "already blocked %s; now until %s (hit %d)",
            stored.address,
            _when(stored.expires),
            stored.hits,
        )
    if new and rt.config.kill_connections:
        from .conntrack import forget

        forget(stored.network)
    if rt.config.notify_enabled:
        from . import notify

        notify.record(rt, "block", [stored], new=new, notice=notice, now=now)
    return BlockResult(stored, new, batch)


def block_many(
    rt: Runtime,
    entries: list[tuple[int, IPNetwork, float | None]],
    *,
    origin: str = "import",
    reason: str = "",
    force_width: bool = False,
    protected: dict | None = None,
    progress: Callable[[int], None] | None = None,
    now: float | None = None,
) -> tuple[list[tuple[Block, bool]], list[tuple[int, str]]]:
    """Block many (line, network, timeout) at once: one lock, one ledger transaction, one
    kernel batch. Every entry passes the guard; a refused one is reported with its line
    number and does not stop the rest. Returns the stored blocks (with "new") and the
    refusals."""
    now = time.time() if now is None else now
    refused: list[tuple[int, str]] = []
    wanted: list[Block] = []
    with rt.lock():
        ledger = rt.ledger
        allows = allowed_networks(ledger, now)
        for i, (line, net, timeout) in enumerate(entries, 1):
            try:
                rt.guard.check(net, temporary_allows=allows, force_width=force_width,
                               protected=protected)  # fmt: skip
            except Refused as exc:
                refused.append((line, str(exc)))
            else:
                expires = None if timeout is None else now + timeout
                wanted.append(Block(net, created=now, expires=expires, origin=origin,
                                    reason=reason))  # fmt: skip
            if progress is not None and i % 1000 == 0:
                progress(1000)
        with ledger.transaction():
            stored = ledger.upsert_many(wanted)
            if stored:
                apply_change(rt.backend, add=[b for b, _ in stored])
            _note_backend(rt)
    rt.backend.settle()
    log.info("imported %d block(s) (%d new), refused %d", len(stored),
             sum(new for _, new in stored), len(refused))  # fmt: skip
    return stored, refused


def unblock(
    rt: Runtime,
    net: IPNetwork,
    *,
    removed_by: str,
    only_origins: Iterable[str] | None = None,
    now: float | None = None,
    notice: dict | None = None,
) -> Block | None:
    """End the block of ``net`` (a no-op if there is none).

    With ``only_origins`` (the agent's timed ``delete``), a block of another origin is
    kept (an agent never lifts an admin's block), and so is an escalated repeat
    offender's block, which stays until its own expiry (the agent's timer is shorter).

    Reported as an ``expire`` event when an agent's timer ended it (``removed_by`` is
    the agent's protocol) or ``removed_by`` is ``expired``, else as ``unblock``.
    """
    now = time.time() if now is None else now
    with rt.lock():
        ledger = rt.ledger
        with ledger.transaction():
            current = ledger.find_active(network_text(net))
            if current is not None and only_origins is not None:
                keep = None
                if current.origin not in only_origins:
                    keep = f"blocked by {current.origin}"
                elif current.offence > 1 and current.expires and current.expires > now + 1:
                    keep = f"repeat offender (offence {current.offence})"
                if keep:
                    log.info(
                        "kept %s until %s: %s, not lifted by %s's delete",
                        current.address,
                        _when(current.expires),
                        keep,
                        removed_by,
                    )
                    return None
            if current is not None:
                ledger.close_blocks([current.id], now, removed_by)  # type: ignore[list-item]
            # Also when the ledger has no row: a rule of ours left behind is removed.
            apply_change(rt.backend, remove=[net])
    rt.backend.settle()
    if current is not None:
        log.log(_routine(removed_by), "unblocked %s (%s)", current.address, removed_by)
        if rt.config.notify_enabled:
            from . import notify

            kind = "expire" if removed_by in (*AGENT_ORIGINS, "expired") else "unblock"
            notice = {**(notice or {}), "removed_by": removed_by}
            notify.record(rt, kind, [current], notice=notice, now=now)
    return current


def flush(rt: Runtime, *, removed_by: str = "flush", now: float | None = None) -> list[Block]:
    """End every block of ours; the safeguards stay."""
    now = time.time() if now is None else now
    with rt.lock():
        ledger = rt.ledger
        with ledger.transaction():
            ended = ledger.active()
            ledger.close_blocks([b.id for b in ended], now, removed_by)  # type: ignore[misc]
            sync(rt)
    rt.backend.settle()
    log.info("flushed %d block(s)", len(ended))
    if ended and rt.config.notify_enabled:
        from . import notify

        notify.record(rt, "unblock", ended, notice={"removed_by": removed_by}, now=now)
    return ended


def reconcile(rt: Runtime, *, why: str, now: float | None = None) -> list[str]:
    """The cron job and the boot-time restore: end what is due, expire temporary allows,
    then make the kernel hold exactly the ledger's active blocks with the safeguards in
    place, repairing whatever another tool (or a reboot) wiped. Returns one line per
    action; nothing when there was nothing to do."""
    now = time.time() if now is None else now
    report: list[str] = []
    with rt.lock():
        ledger = rt.ledger
        with ledger.transaction():
            due = ledger.due(now)
            if due:
                ledger.close_blocks([b.id for b in due], now, "expired")  # type: ignore[misc]
                report.extend(
                    f"expired {b.address} ({b.origin}, blocked {_when(b.created)})" for b in due
                )
            target = _pending_migration(rt)
            if target is not None:
                report.extend(migrate_blocks(rt, target, now))
            elif due:
                apply_change(rt.backend, remove=[b.network for b in due])
            report.extend(f"allow for {a} ended" for a in ledger.expire_allows(now))
            batch = sync(rt)
            label = "restored" if why == "restore" else "repaired"
            report.extend(f"{label}: {action}" for action in batch.actions)
            _note_backend(rt)
            ledger.set_meta(f"last_{why}", f"{now:.0f}")
    rt.backend.settle()
    for line in report:
        log.info("%s: %s", why, line)
    if due and rt.config.notify_enabled:
        from . import notify

        notify.record(rt, "expire", due, notice={"removed_by": "expired"}, now=now)
    return report


def allow(
    rt: Runtime, net: IPNetwork, *, expires: float | None, reason: str, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    with rt.lock(), rt.ledger.transaction():
        rt.ledger.add_allow(network_text(net), expires, reason, now)
    log.info("allowed %s until %s (%s)", network_text(net), _when(expires), reason or "-")


def disallow(rt: Runtime, net: IPNetwork, *, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    with rt.lock(), rt.ledger.transaction():
        removed = rt.ledger.remove_allow(network_text(net), now)
    if removed:
        log.info("allow entry for %s removed", network_text(net))
    return removed


def _routine(origin: str) -> int:
    """The agent's own blocks are routine (the ledger and active-responses.log record
    them): debug. Anything an admin does: info."""
    return logsetup.DEBUG if origin in AGENT_ORIGINS else logsetup.INFO


def _when(ts: float | None) -> str:
    if ts is None:
        return "removed by an admin (permanent)"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
