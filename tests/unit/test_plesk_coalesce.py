"""The durable counters and the applier lock behind Plesk's coalesced rounds."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from plesk.coalesce import Queue


def test_counters_and_pending(tmp_path: Path) -> None:
    q = Queue(str(tmp_path / "plesk"))
    assert not q.status().pending
    assert q.bump("wanted") == 1 and q.bump("wanted") == 2
    st = q.status()
    assert st.sync_pending and not st.apply_pending and st.pending
    q.reach("synced", 2)
    q.reach("synced", 1)  # never lower
    assert q.read("synced") == 2 and not q.status().pending
    q.bump("changed")
    assert q.status().apply_pending
    q.reach("applied", 1)
    assert not q.status().pending
    assert oct(os.stat(tmp_path / "plesk").st_mode & 0o777) == "0o700"
    # Survives a new process: it is all in files.
    assert Queue(str(tmp_path / "plesk")).status().wanted == 2


def test_failure_is_recorded_until_cleared(tmp_path: Path) -> None:
    q = Queue(str(tmp_path))
    q.bump("changed")
    q.record_failure("Plesk firewall --apply failed:\n simulated")
    st = q.status()
    assert st.last_error == "Plesk firewall --apply failed: simulated"
    assert st.failed_at and abs(st.failed_at - time.time()) < 5
    assert "apply pending" in st.describe() and "simulated" in st.describe()
    q.clear_failure()
    q.clear_failure()
    assert q.status().last_error == ""


def _hold(directory: str, ready, release) -> None:
    with Queue(directory).exclusive() as mine:
        assert mine
        ready.set()
        release.wait(10)


def test_exclusive_never_waits_and_is_freed_when_the_holder_goes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with Queue(str(tmp_path)).exclusive() as mine:
            assert not mine
        assert time.monotonic() - started < 0.5
    finally:
        holder.kill()  # SIGKILL: the kernel releases the flock
        holder.join()
    with Queue(str(tmp_path)).exclusive() as mine:
        assert mine


def _bump_many(directory: str, n: int) -> None:
    q = Queue(directory)
    for _ in range(n):
        q.bump("wanted")


def test_concurrent_bumps_are_not_lost(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump_many, args=(str(tmp_path), 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert Queue(str(tmp_path)).read("wanted") == 200
