from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activeresponse.errors import LockTimeout
from activeresponse.lock import Lock

HOLD = """
import sys, time
from activeresponse.lock import Lock
with Lock(sys.argv[1], 5):
    print("held", flush=True)
    time.sleep(60)
"""


def holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout and proc.stdout.readline().strip() == "held"
    return proc


def test_bounded_wait_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    proc = holder(path)
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout, match=f"pid {proc.pid}"), Lock(str(path), 0.5):
            pass
        assert 0.4 < time.monotonic() - start < 3
        assert proc.poll() is None  # nobody was killed
    finally:
        proc.kill()
        proc.wait()


def test_sigkilled_holder_never_wedges_the_next_caller(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    proc = holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    start = time.monotonic()
    with Lock(str(path), 5):
        pass
    assert time.monotonic() - start < 1


def test_waiter_gets_the_lock_when_released(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    proc = holder(path)
    start = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 0.5; kill {proc.pid}"])
    with Lock(str(path), 10):
        waited = time.monotonic() - start
    proc.wait()
    assert 0.3 < waited < 5


def test_lock_in_a_thread_uses_polling(tmp_path: Path) -> None:
    import threading

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with Lock(str(tmp_path / "lock"), 1):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors == []
