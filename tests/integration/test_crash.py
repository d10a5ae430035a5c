"""Crash consistency: SIGKILL at random points (fixed seed) during a single add and
during expire. After the next expire, kernel and ledger agree, no completed block is
lost, none is left without an expiry, the SQLite file is intact and the lock is free."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time

import pytest
from sandbox import AgentSandbox

pytestmark = pytest.mark.netns

ITERATIONS = 60


def kill_after(proc: subprocess.Popen, delay: float) -> None:
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def assert_consistent(box: AgentSandbox) -> None:
    done = box.cli("expire")
    assert done.returncode == 0, done.stderr  # also proves the lock is not wedged
    with sqlite3.connect(box.state / "ledger.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT address, expires FROM blocks WHERE removed IS NULL").fetchall()
    assert all(expires is not None for _, expires in rows), "a block without expiry"
    ledger = sorted(a for a, _ in rows)
    kernel = sorted(box.blocked(4) + box.blocked(6))
    assert kernel == ledger
    assert len(kernel) == len(set(kernel))
    assert box.cli("status").returncode == 0


def test_kill_during_add(sandbox: AgentSandbox) -> None:
    rng = random.Random(7)
    completed: set[str] = set()
    for i in range(ITERATIONS):
        address = f"198.51.100.{i + 1}" if i % 2 else f"2001:db8:7::{i + 1:x}"
        proc = sandbox.ossec_popen("add", "-", address, f"9.{i}", "5712")
        kill_after(proc, rng.uniform(0, 0.06))
        if proc.returncode == 0:
            completed.add(address)
        assert_consistent(sandbox)
    ledger = {r[0] for r in sandbox.ledger_rows()}
    assert completed <= ledger, "a block that completed was lost"


def test_kill_during_expire(tmp_path, ns) -> None:
    box = AgentSandbox(tmp_path, ns, "iptables-nft", timeout=1)
    try:
        rng = random.Random(11)
        for round_ in range(ITERATIONS // 4):
            for i in range(4):
                address = f"198.51.100.{round_ * 4 + i + 1}"
                assert box.ossec("add", "-", address, "1.1", "5712").returncode == 0
            time.sleep(1.1)
            box.ns.run(["iptables-nft", "-F", "INPUT"])  # give expire repairs to do too
            proc = subprocess.Popen(
                box.cli_argv("expire"),
                env=box.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            kill_after(proc, rng.uniform(0, 0.08))
            assert_consistent(box)
        assert box.ledger_rows() == []
    finally:
        box.cleanup()
