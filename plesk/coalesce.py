"""Coalescing for Plesk: few rounds, never two at once, nothing forgotten.

Every Plesk Firewall CLI call is slow (Plesk's PHP start-up), ``--apply`` takes
seconds, and two applies cannot overlap, while an attack starts one firewall-drop
process per alert. So a change never waits for Plesk: it records a *request*, and
whoever holds the applier lock runs *rounds* (read Plesk's rules, bring our rules in
line with the ledger, apply) until no request is left. Durable state, in ``<dir>``:

- ``wanted`` / ``synced``: sync requests made / covered by a finished round;
- ``changed`` / ``applied``: Plesk configuration changes made (raised before and after
  every CLI change) / covered by a successful ``--apply``;
- ``apply.lock``: held (``flock``) by the one process running rounds;
- ``counter.lock``: held for microseconds around each counter update;
- ``last-error``: why the last round failed, until one succeeds.

``wanted > synced`` or ``changed > applied`` is the *pending* marker: it survives a
failed apply, a crash and a reboot; the next round (any later block, unblock or
``activeresponse expire``) picks it up.

A process that finds the lock taken returns at once. That is safe because the holder
reads the counters again before each round and once more after releasing the lock: a
request made before the failed ``flock`` attempt is seen by a round that starts after
it, and that round reads the ledger (committed before the request was made) and Plesk's
rules after reading the counters.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager, suppress

from activeresponse.errors import StateError
from activeresponse.fileutil import ensure_dir, write_atomic

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from collections.abc import Iterator

COUNTERS = ("wanted", "synced", "changed", "applied")


class QueueStatus:
    """The counters and the last failure, for ``status`` and for tests."""

    __slots__ = ("applied", "changed", "failed_at", "last_error", "synced", "wanted")

    def __init__(self, counters: dict[str, int], last_error: str, failed_at: float | None):
        self.wanted = counters["wanted"]
        self.synced = counters["synced"]
        self.changed = counters["changed"]
        self.applied = counters["applied"]
        self.last_error = last_error
        self.failed_at = failed_at

    @property
    def sync_pending(self) -> bool:
        return self.wanted > self.synced

    @property
    def apply_pending(self) -> bool:
        return self.changed > self.applied

    @property
    def pending(self) -> bool:
        return self.sync_pending or self.apply_pending

    def describe(self) -> str:
        if not self.pending:
            return "Plesk rules in line with the ledger and applied"
        what = "update and apply" if self.sync_pending else "apply"
        text = f"Plesk {what} pending"
        if self.last_error:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.failed_at or 0))
            text += f" (last attempt failed at {when}: {self.last_error})"
        return text


class Queue:
    """The counters, the applier lock and the failure record under one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _open(self, name: str) -> int:
        ensure_dir(self.directory, 0o700)
        path = self._path(name)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open {path}: {exc.strerror}") from None

    def read(self, name: str) -> int:
        try:
            with open(self._path(name)) as fh:
                text = fh.read(32).strip()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StateError(f"cannot read {self._path(name)}: {exc.strerror}") from None
        return int(text) if text.isdigit() else 0

    @contextmanager
    def _counters(self) -> Iterator[None]:
        fd = self._open("counter.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def bump(self, name: str) -> int:
        """Raise counter ``name`` (``wanted`` or ``changed``) by one; its new value."""
        with self._counters():
            value = self.read(name) + 1
            write_atomic(self._path(name), f"{value}\n".encode())
            return value

    def reach(self, name: str, value: int) -> None:
        """Raise counter ``name`` (``synced`` or ``applied``) to ``value``, never lower."""
        with self._counters():
            if value > self.read(name):
                write_atomic(self._path(name), f"{value}\n".encode())

    def status(self) -> QueueStatus:
        error, failed_at = "", None
        try:
            with open(self._path("last-error")) as fh:
                stamp, _, error = fh.read(4096).strip().partition(" ")
            failed_at = float(stamp)
        except (OSError, ValueError):
            error = ""
        return QueueStatus({c: self.read(c) for c in COUNTERS}, error, failed_at)

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """``with queue.exclusive() as mine:`` ``mine`` says whether this process holds
        the applier lock (never waits for it)."""
        fd = self._open("apply.lock")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the flock

    def record_failure(self, message: str) -> None:
        text = " ".join(message.split())[:1000]
        write_atomic(self._path("last-error"), f"{time.time():.0f} {text}\n".encode())

    def clear_failure(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self._path("last-error"))
