"""One inter-process lock around every ledger + firewall change.

``flock(2)`` on a lock file: the kernel releases it when the holder exits for any reason,
SIGKILL included, so a dead holder never wedges the next caller and nobody is ever
killed to break a lock. Waiting is bounded; on timeout the error names the holder.
The lock file is never unlinked (that would let two processes lock different inodes).
"""

from __future__ import annotations

# The C module: signal.py wraps it in enums that cost milliseconds of the agent's start-up.
import _signal
import errno
import fcntl
import os
import time

from .errors import LockTimeout, StateError
from .fileutil import ensure_dir


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


class Lock:
    """``with Lock(path, timeout):`` holds the lock exclusively for the block."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        ensure_dir(os.path.dirname(self.path) or ".", 0o755)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open lock file {self.path}: {exc.strerror}") from None
        try:
            self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        # Record the holder for the timeout message of whoever waits next.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.0f}\n".encode(), 0)
        self._fd = fd

    def _wait(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if self.timeout > 0:
            locked = self._wait_with_timer(fd)
            if locked is None:  # not the main thread: no signals there, so poll
                locked = self._poll(fd)
            if locked:
                return
        raise LockTimeout(
            f"another activeresponse process holds {self.path} ({self.holder() or 'unknown'})"
            f" and did not release it within {self.timeout:g}s; try again"
        )

    def _wait_with_timer(self, fd: int) -> bool | None:
        """Block in the kernel (waiters queue, no polling) with an interval timer bounding
        the wait. True: locked; False: timed out; None: cannot use signals here."""
        try:
            previous = _signal.signal(_signal.SIGALRM, _on_alarm)
        except ValueError:  # signals only work in the main thread
            return None
        _signal.setitimer(_signal.ITIMER_REAL, self.timeout)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        except _Timeout:
            return False
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _signal.signal(_signal.SIGALRM, previous)

    def _poll(self, fd: int) -> bool:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
        return False

    def holder(self) -> str:
        """``pid N since T`` of the current holder, as far as the file says."""
        try:
            with open(self.path) as fh:
                fields = fh.read(64).split()
        except OSError:
            return ""
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            since = time.strftime("%H:%M:%S", time.localtime(int(fields[1])))
            return f"pid {fields[0]} since {since}"
        return ""

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
