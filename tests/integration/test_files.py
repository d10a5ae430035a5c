"""Files: tight modes, refusal of unsafe ones, no symlink followed, and repair after an
older ruleset is restored over ours."""

from __future__ import annotations

import os
import stat

import pytest
from sandbox import AgentSandbox

pytestmark = pytest.mark.netns


def mode(path: object) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)  # type: ignore[arg-type]


def test_created_files_have_tight_modes(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.7", "1", "2").returncode == 0
    assert mode(sandbox.state) == 0o700
    assert mode(sandbox.state / "ledger.sqlite3") == 0o600
    assert mode(sandbox.agent / "logs/active-responses.log") == 0o640
    assert mode(sandbox.root / "run/lock") == 0o600


def test_world_writable_config_or_ledger_is_refused(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.7", "1", "2").returncode == 0
    before = sandbox.snapshot()
    os.chmod(sandbox.config, 0o666)
    done = sandbox.ossec("add", "-", "192.0.2.8", "1", "2")
    assert done.returncode == 2 and "writable by group or others" in done.stderr
    os.chmod(sandbox.config, 0o600)
    os.chmod(sandbox.state / "ledger.sqlite3", 0o622)
    done = sandbox.ossec("add", "-", "192.0.2.8", "1", "2")
    assert done.returncode == 1 and "ledger" in done.stderr and "chmod" in done.stderr
    assert sandbox.cli("list").returncode == 1
    assert sandbox.snapshot() == before


def test_planted_symlinks_are_not_followed(sandbox: AgentSandbox) -> None:
    victim = sandbox.root / "precious"
    victim.write_text("keep me\n")
    log = sandbox.agent / "logs/active-responses.log"
    log.symlink_to(victim)
    done = sandbox.ossec("add", "-", "192.0.2.7", "1", "2")
    assert done.returncode == 0  # blocking goes on; the log line is refused
    assert victim.read_text() == "keep me\n"
    assert sandbox.blocked(4) == ["192.0.2.7"]
    # The lock file and our own log refuse symlinks too.
    (sandbox.root / "run/lock").unlink()
    (sandbox.root / "run/lock").symlink_to(victim)
    done = sandbox.ossec("add", "-", "192.0.2.8", "1", "2")
    assert done.returncode == 1 and "lock" in done.stderr
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "backend", ["iptables-nft", "iptables-legacy", "ipset"], indirect=True
)  # nftables keeps its own table, which an iptables restore does not touch
def test_expire_repairs_after_an_older_ruleset_is_restored(sandbox: AgentSandbox) -> None:
    tool = f"iptables-{sandbox.variant}"
    sandbox.ns.run([tool, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"])
    old = sandbox.ns.run([f"{tool}-save"]).stdout  # what a distribution's restore would load
    assert sandbox.ossec("add", "-", "192.0.2.7", "1", "2").returncode == 0
    sandbox.ns.run([f"{tool}-restore"], input=old)
    assert not any("ACTIVERESPONSE" in r for r in sandbox.rules("INPUT"))
    status = sandbox.cli("status")
    assert status.returncode == 1 and "DRIFT" in status.stdout  # reported before the repair
    out = sandbox.cli("expire").stdout
    assert out.count("repaired:") >= 3
    assert sandbox.blocked(4) == ["192.0.2.7"]
    assert "-p tcp -m tcp --dport 22 -j ACCEPT" in sandbox.rules("INPUT")
