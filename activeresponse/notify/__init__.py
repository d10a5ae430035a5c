"""Notifications: a report of each block (and unblock/expiry, if asked) to the admins.

Two halves, so a slow or dead mail server never delays or breaks a block:

- **record** (this module, the agent's path): after the block is committed, the event
  goes to the spool (spool.py; only ``sqlite3``, which the ledger already imported; no
  smtplib, email, json or re), then a short detached sender is started unless one is
  already running (``notify_background``).
- **deliver** (deliver.py; cron/timer, ``activeresponse notify send``, the background
  sender): sends what is due per channel, one digest per interval during a storm,
  failures retried with backoff and never dropped.

Entry points for other code:
- :func:`record` after a block / unblock / expiry (operations.block and unblock call it);
- :func:`deliver` from the periodic run (``activeresponse expire``).
"""

from __future__ import annotations

import os
import sys
import time

from ..logsetup import get_logger

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from ..config import Config
    from ..model import Block
    from ..operations import Runtime
    from .deliver import Report

log = get_logger(__name__)

CHANNELS = ("email", "command")


def configured_channels(config: Config) -> list[str]:
    """The channels the config sets up: e-mail needs a server and a recipient."""
    found = []
    if config.notify_smtp_host and config.notify_to:
        found.append("email")
    if config.notify_command:
        found.append("command")
    return found


def wanted(config: Config, kind: str) -> bool:
    return config.notify_enabled and kind in config.notify_events


def record(
    rt: Runtime,
    kind: str,
    blocks: list[Block],
    *,
    new: bool = True,
    notice: dict | None = None,
    now: float | None = None,
) -> None:
    """Spool a notification for each of ``blocks`` (``kind``: block, unblock, expire),
    then start a background sender. Never raises: the block is already done, and a
    notification problem must not turn it into a failure (it is logged)."""
    config = rt.config
    if not blocks or not wanted(config, kind):
        return
    channels = configured_channels(config)
    if not channels:
        log.warning(
            "notify_enabled is set but no channel is configured (see notify_to, "
            "notify_smtp_host, notify_command); nothing was spooled"
        )
        return
    try:
        from . import event
        from .spool import Spool

        now = time.time() if now is None else now
        host = event.host_fields(rt.host_interfaces())
        events = [
            event.build(
                kind,
                block,
                now=now,
                new=new,
                notice=notice,
                history=rt.ledger.history(block.address),
                host=host,
                config_path=config.source if config.source != "defaults" else "",
            )
            for block in blocks
        ]
        with Spool(config.notify_spool_path) as spool:
            spool.add(events, channels)
            due = spool.next_due(
                channels, config.notify_gather_seconds, config.notify_digest_seconds
            )
    except Exception as exc:  # the block stands; say loudly that its report is missing
        log.error(
            "could not spool the %s notification for %s: %s",
            kind,
            ", ".join(b.address for b in blocks[:5]),
            exc,
        )
        return
    # A sender is started only for what falls due soon; during a storm, events that wait
    # for the digest interval are left to the periodic run (or a later call's sender),
    # so a burst of blocks does not start a burst of Python processes.
    if config.notify_background and due is not None and due - now <= background_linger(config):
        kick(config)


def background_linger(config: Config) -> float:
    """How far ahead a background sender waits for something to fall due."""
    return config.notify_gather_seconds + 5


def sender_busy(config: Config) -> bool:
    """Whether a sender holds the sender lock now (it re-reads the spool after it lets
    go, so an event spooled before this check is never left behind)."""
    import fcntl

    from ..fileutil import ensure_dir

    path = config.notify_lock_path
    ensure_dir(os.path.dirname(path) or ".", 0o755)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our flock too
    return False


def kick(config: Config) -> int | None:
    """Start the detached background sender unless one is running; its pid or None."""
    from ..runner import spawn_detached

    try:
        if sender_busy(config):
            return None
        # The child gets our exact import path: the launcher runs us with -IS.
        code = (
            f"import sys; sys.path[:] = {sys.path!r}; "
            "from activeresponse.notify.background import main; sys.exit(main(sys.argv[1]))"
        )
        source = config.source if config.source != "defaults" else ""
        return spawn_detached([sys.executable, "-IS", "-c", code, source])
    except Exception as exc:
        log.error("could not start the background notification sender: %s", exc)
        return None


def deliver(
    config: Config, *, now: float | None = None, force: bool = False, wait: float = 0.0
) -> Report:
    """Send what is due (see deliver.deliver). Never raises."""
    from .deliver import deliver as _deliver

    return _deliver(config, now=now, force=force, wait=wait)
