"""The operations every entry point shares: block, unblock, expire, restore.

Data flows one way: request -> guard -> ledger -> firewall -> log. Each operation holds
the lock, changes the ledger inside one SQLite transaction, applies the kernel batch
inside that same transaction, and commits only when the kernel accepted it: a refused
batch leaves neither a ledger change nor a partial rule. The kernel follows the ledger:
whatever a crash leaves half-done, the next ``expire``/``restore`` sync repairs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from . import agentconf, logsetup
from .addresses import network_text, parse_network
from .backends.base import FAMILIES, Backend, Batch
from .config import Config
from .errors import CommandError
from .guard import Guard
from .ledger import Ledger
from .lock import Lock
from .logsetup import get_logger
from .model import Block

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPNetwork

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

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.config.ledger_path)
        return self._ledger

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from .backends import select

            self._backend = select(self.config)
        return self._backend

    @property
    def guard(self) -> Guard:
        if self._guard is None:
            from .hostaddrs import interface_addresses

            self._guard = Guard(
                allowlist=[parse_network(a) for a in self.config.allowlist],
                managers=agentconf.manager_addresses(self.tree),
                interfaces=interface_addresses,
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
    now: float | None = None,
) -> BlockResult:
    """Block ``net`` for ``timeout`` seconds (``None``: permanent). Blocking an address
    that is already blocked extends it and creates no second rule."""
    now = time.time() if now is None else now
    with rt.lock():
        ledger = rt.ledger
        rt.guard.check(net, force_width=force_width)
        wanted = Block(
            net,
            created=now,
            expires=None if timeout is None else now + timeout,
            origin=origin,
            alert_id=alert_id,
            rule_id=rule_id,
            user=user,
            reason=reason,
        )
        with ledger.transaction():
            stored, new = ledger.upsert(wanted)
            # Always (re)assert the rule: if something wiped it, this call repairs it.
            batch = apply_change(rt.backend, add=[stored])
    rt.backend.settle()
    level = _routine(origin)
    if new:
        log.log(
            level,
            "blocked %s until %s (%s rule %s alert %s)",
            stored.address,
            _when(stored.expires),
            origin,
            rule_id or "-",
            alert_id or "-",
        )
    else:
        log.log(
            level,
            "already blocked %s; now until %s (hit %d)",
            stored.address,
            _when(stored.expires),
            stored.hits,
        )
    return BlockResult(stored, new, batch)


def unblock(
    rt: Runtime,
    net: IPNetwork,
    *,
    removed_by: str,
    only_origins: Iterable[str] | None = None,
    now: float | None = None,
) -> Block | None:
    """End the block of ``net`` (a no-op if there is none). With ``only_origins``, a block
    of another origin is kept (an agent's delete never lifts an admin's block)."""
    now = time.time() if now is None else now
    with rt.lock():
        ledger = rt.ledger
        with ledger.transaction():
            current = ledger.find_active(network_text(net))
            if (
                current is not None
                and only_origins is not None
                and current.origin not in only_origins
            ):
                log.info(
                    "kept %s: blocked by %s, not lifted by %s",
                    current.address,
                    current.origin,
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
    return current


def _routine(origin: str) -> int:
    """The agent's own blocks are routine (the ledger and active-responses.log record
    them): debug. Anything an admin does: info."""
    return logsetup.DEBUG if origin in AGENT_ORIGINS else logsetup.INFO


def _when(expires: float | None) -> str:
    if expires is None:
        return "removed by an admin (permanent)"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(expires))
