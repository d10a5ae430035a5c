"""Sending what the spool holds: per channel, one message per due batch.

When a channel's pending events are due (Alertmanager's model):
- the first event after a quiet period waits ``notify_gather_seconds`` for others to
  join it, so the start of an attack is one message;
- after a message, the next waits until ``notify_digest_seconds`` have passed: during
  a storm each channel sends at most one digest per interval;
- after a failure, the channel waits ``notify_retry_seconds``, doubling per failure in a
  row up to ``notify_retry_max_seconds``. Events stay pending until a send succeeds.

One sender at a time (a flock on ``notify.lock`` beside the main lock), and the spool is
never held open in a transaction while a message is being sent.
"""

from __future__ import annotations

import ast
import os
import time

from ..config import Config
from ..errors import ActiveResponseError, ConfigError, StateError
from ..logsetup import get_logger
from . import background_linger, kick
from .channels import channel
from .render import render
from .settings import Settings
from .spool import ChannelState, Spool
from .spool import due_time as spool_due_time

log = get_logger(__name__)

DIGEST_MAX = 1000  # events listed in one message; a larger backlog goes out in parts
KEEP_SENT = 30 * 86400  # sent events are forgotten after this long


class Report:
    """What one delivery run did."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []  # (channel, message kind, events)
        self.failed: list[tuple[str, str, float]] = []  # (channel, error, next try)
        self.waiting: dict[str, float] = {}  # channel -> when its pending events are due
        self.errors: list[str] = []
        self.busy = False  # another sender held the lock

    @property
    def next_due(self) -> float | None:
        times = list(self.waiting.values()) + [t for _, _, t in self.failed]
        return min(times) if times else None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def as_dict(self) -> dict:
        return {
            "sent": [{"channel": c, "type": k, "events": n} for c, k, n in self.sent],
            "failed": [{"channel": c, "error": e, "next_try": t} for c, e, t in self.failed],
            "waiting": self.waiting,
            "errors": self.errors,
            "busy": self.busy,
        }


class SenderLock:
    """flock on the sender lock file; ``wait`` seconds at most (0: try once)."""

    def __init__(self, config: Config, wait: float = 0.0) -> None:
        self.path = config.notify_lock_path
        self.wait = wait
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        from ..fileutil import ensure_dir

        ensure_dir(os.path.dirname(self.path) or ".", 0o755)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def decode(row: tuple[int, float, str]) -> dict:
    """A spooled event back as a dict (literals only: ast.literal_eval)."""
    event_id, created, data = row
    try:
        event = ast.literal_eval(data)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        event = None
    if not isinstance(event, dict):
        event = {"kind": "block", "action": "blocked", "address": "?", "log": data[:500]}
    event.setdefault("time", created)
    event["id"] = event_id
    return event


def backoff(settings: Settings, failures: int) -> float:
    return min(settings.retry * 2 ** min(failures - 1, 30), settings.retry_max)


def due_time(settings: Settings, state: ChannelState, oldest: float) -> float:
    return spool_due_time(state, oldest, settings.gather, settings.digest)


def _send_channel(
    spool: Spool, settings: Settings, name: str, report: Report, now: float, force: bool
) -> None:
    sender = channel(name, settings)
    continuing = False
    while True:
        rows = spool.pending(name, DIGEST_MAX)
        if not rows:
            return
        state = spool.channel(name)
        due = due_time(settings, state, rows[0][1])
        if not (force or continuing) and due > now:
            report.waiting[name] = due
            return
        events = [decode(r) for r in rows]
        try:
            message = render(events, settings, now=now)
            sent_id = sender.send(message)
        except Exception as exc:  # any failure: keep everything, retry later
            error = f"{type(exc).__name__}: {exc}".strip()
            failures = state.failures + 1
            next_try = now + backoff(settings, failures)
            spool.mark_failed(name, now, error, next_try)
            report.failed.append((name, error, next_try))
            log.warning(
                "notification via %s failed (%d in a row; %d events kept; next try at %s): %s",
                name,
                failures,
                len(events),
                time.strftime("%H:%M:%S", time.localtime(next_try)),
                error,
            )
            return
        spool.mark_sent(name, [e["id"] for e in events], now, sent_id)
        report.sent.append((name, message.kind, len(events)))
        log.info("notification via %s: %s of %d event(s) sent", name, message.kind, len(events))
        # A backlog larger than one message goes out now, in parts.
        continuing = len(rows) == DIGEST_MAX


def deliver_locked(config: Config, *, now: float | None = None, force: bool = False) -> Report:
    """Send what is due; the caller holds the sender lock."""
    report = Report()
    if not os.path.exists(config.notify_spool_path):
        return report
    now = time.time() if now is None else now
    try:
        settings = Settings(config)
        with Spool(config.notify_spool_path) as spool:
            spool.prune(now - KEEP_SENT)
            for name in settings.channels:
                _send_channel(spool, settings, name, report, now, force)
    except (ConfigError, StateError) as exc:
        report.errors.append(str(exc))
        log.error("notifications: %s", exc)
    except Exception as exc:  # a bug: logged in full, and the caller (expire) goes on
        report.errors.append(f"internal error: {type(exc).__name__}: {exc}")
        log.exception("notifications: internal error")
    return report


def deliver(
    config: Config, *, now: float | None = None, force: bool = False, wait: float = 0.0
) -> Report:
    """Send what is due now (``force``: everything pending, ignoring gather, digest and
    backoff waits). Never raises: problems are in the report and our log. If another
    sender is running (``wait`` seconds at most), returns a report with ``busy`` set:
    that sender sees the same spool."""
    lock = SenderLock(config, wait)
    try:
        if not lock.acquire():
            report = Report()
            report.busy = True
            return report
    except (OSError, ActiveResponseError) as exc:
        report = Report()
        report.errors.append(f"notification sender lock {config.notify_lock_path}: {exc}")
        return report
    try:
        report = deliver_locked(config, now=now, force=force)
    finally:
        lock.release()
    # An agent that found our lock held started no sender: hand what falls due soon to
    # a background sender rather than leave it to the next periodic run.
    due = next_due(config)
    if (
        config.notify_background
        and due is not None
        and due - time.time() <= background_linger(config)
    ):
        kick(config)
    return report


def next_due(config: Config) -> float | None:
    """When the earliest pending event on a configured channel is due (no lock needed)."""
    if not os.path.exists(config.notify_spool_path):
        return None
    try:
        settings = Settings(config)
        with Spool(config.notify_spool_path) as spool:
            return spool.next_due(settings.channels, settings.gather, settings.digest)
    except (ConfigError, StateError):
        return None


def run_background(config: Config, *, linger: float | None = None) -> None:
    """The agent-started sender: send what is due, wait (at most ``linger`` seconds
    ahead, by default the gather time plus 5 s) for what will be due soon, and leave
    longer waits (digest interval, backoff) to the cron/timer run.

    After letting go of the lock it looks at the spool once more: an agent that found
    the lock held did not start a sender, and relies on this look."""
    linger = background_linger(config) if linger is None else linger
    deadline = time.monotonic() + linger + 120  # never an endless background process
    while time.monotonic() < deadline:
        lock = SenderLock(config)
        if not lock.acquire():
            return  # the holder will look again after it lets go
        try:
            while time.monotonic() < deadline:
                report = deliver_locked(config)
                due = report.next_due
                if report.errors or due is None or due - time.time() > linger:
                    break
                time.sleep(max(0.0, due - time.time()) + 0.05)
        finally:
            lock.release()
        due = next_due(config)
        if due is None or due - time.time() > linger:
            return
