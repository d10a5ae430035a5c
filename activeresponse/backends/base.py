"""What every firewall backend provides.

A backend reads what the kernel holds (a snapshot), builds a :class:`Batch` from that
snapshot and the wanted change (pure: no I/O, unit-testable, printable as a dry run),
and applies a batch atomically with the official batch tool.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Block

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from typing import Any

    from ..addresses import IPNetwork

FAMILIES = (4, 6)


class Step:
    """One external command of a batch, with its stdin payload."""

    __slots__ = ("argv", "payload")

    def __init__(self, argv: list[str], payload: str) -> None:
        self.argv = argv
        self.payload = payload

    def __repr__(self) -> str:
        return f"Step({self.argv!r}, {len(self.payload)} bytes)"


class Batch:
    """The kernel changes of one operation, and a line per change for humans."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.actions: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.steps)

    def dry_run(self) -> str:
        """The exact commands and payloads, for ``--dry-run`` and debugging."""
        parts = []
        for step in self.steps:
            parts.append(f"# {' '.join(step.argv)}\n{step.payload}")
        return "\n".join(parts)


class Backend:
    """Interface of a firewall backend. ``State`` is backend-specific."""

    name = "base"

    def describe(self) -> str:
        """Name and variant for ``status``, e.g. ``iptables (nft)``."""
        return self.name

    def location(self) -> str:
        """Where a block is enforced, for ``list`` (e.g. ``INPUT+FORWARD via chain X``)."""
        return self.describe()

    def read(self, families: Iterable[int] = FAMILIES) -> Any:
        """Snapshot what the kernel holds for these families."""
        raise NotImplementedError

    def read_for_change(self, families: Iterable[int]) -> Any:
        """Snapshot for a change touching ``families``, good enough for :meth:`plan` (not
        for :meth:`plan_sync` or :meth:`enforced`): see :meth:`read_brief`. When their
        safeguards are not in place (first use, a reboot, a wipe), every family is read,
        so the same change sets all of them up."""
        families = list(families)
        state = self.read_brief(families)
        if len(families) < len(FAMILIES) and not self.safeguards_ok(state):
            state = self.read_brief(FAMILIES)
        return state

    def read_brief(self, families: Iterable[int]) -> Any:
        """A snapshot for :meth:`plan` of a change of a few addresses. Default:
        :meth:`read`. The set backends leave out the elements (listing 100,000 takes
        about a second) and then plan changes that are right whatever the sets hold."""
        return self.read(families)

    def plan(
        self,
        state: Any,
        *,
        add: Iterable[Block] = (),
        remove: Iterable[IPNetwork] = (),
    ) -> Batch:
        """Batch that adds/removes these blocks and puts the safeguards in place for every
        family in the snapshot. Pure."""
        raise NotImplementedError

    def plan_sync(self, state: Any, blocks: Iterable[Block], families: Iterable[int]) -> Batch:
        """Batch that makes the kernel hold exactly ``blocks`` (for these families) with
        every safeguard in place. Pure."""
        raise NotImplementedError

    def apply(self, batch: Batch) -> None:
        """Apply a batch; raise :class:`~activeresponse.errors.FirewallError` on refusal."""
        raise NotImplementedError

    def teardown_batch(self, successor: Backend) -> Batch:
        """Batch removing everything this backend put in the kernel that ``successor``
        does not use: the second half of a migration, once ``successor`` enforces every
        block. Reads the kernel."""
        from ..errors import UsageError

        raise UsageError(f"moving blocks away from the {self.name} backend is not supported")

    def settle(self) -> None:
        """Called after a change is committed and the lock released. A backend whose
        enforcement is slow or must be coalesced (Plesk's apply) finishes it here, so one
        slow step never holds the lock every agent process waits on. Default: nothing."""

    def enforced(self, state: Any) -> set[IPNetwork]:
        """The networks the snapshot shows as blocked by us."""
        raise NotImplementedError

    def enforced_addresses(self, state: Any) -> set[str]:
        """:meth:`enforced` as canonical texts (what ``Block.address`` holds)."""
        from ..addresses import network_text

        return {network_text(n) for n in self.enforced(state)}

    def safeguards_ok(self, state: Any) -> bool:
        """Whether the snapshot has every safeguard (and hook) where it belongs."""
        raise NotImplementedError
