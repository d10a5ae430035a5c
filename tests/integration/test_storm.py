"""A storm: 200 concurrent firewall-drop processes, OSSEC and Wazuh forms, adds and
deletes, IPv4 and IPv6, the same address several times. Afterwards kernel == ledger ==
the expected set, no duplicate rule, and every process exited 0."""

from __future__ import annotations

import random
import subprocess

import pytest
from sandbox import AgentSandbox, wazuh_message

pytestmark = pytest.mark.netns


def wazuh_popen(box: AgentSandbox, command: str, address: str, n: int) -> subprocess.Popen:
    """Start a Wazuh-form process whose stdin holds the message and, for add, execd's
    'continue' (read only after it has asked check_keys)."""
    message = wazuh_message(command, address)
    answer = message.replace(f'"command": "{command}"', '"command": "continue"')
    stdin = box.root / f"wazuh-{n}.in"
    stdin.write_text(message + "\n" + (answer + "\n" if command == "add" else ""))
    with open(stdin) as fh:
        return subprocess.Popen(box.argv(box.wazuh_exe), env=box.env, text=True, stdin=fh,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_storm_of_200(sandbox: AgentSandbox) -> None:
    rng = random.Random(20261204)
    keep = [f"198.51.100.{i}" for i in range(1, 61)] + [f"2001:db8:5::{i:x}" for i in range(1, 41)]
    lift = [f"203.0.113.{i}" for i in range(100, 130)] + [
        f"2001:db8:6::{i:x}" for i in range(1, 21)
    ]
    for i, address in enumerate(lift):  # blocked before the storm; the storm lifts them
        assert sandbox.ossec("add", "-", address, f"0.{i}", "5712").returncode == 0
    jobs = [("add", a) for a in keep]
    jobs += [("add", a) for a in rng.sample(keep, 50)]  # the same address several times
    jobs += [("delete", a) for a in lift]
    assert len(jobs) == 200
    rng.shuffle(jobs)
    procs = []
    for n, (command, address) in enumerate(jobs):
        if n % 2:
            procs.append(wazuh_popen(sandbox, command, address, n))
        else:
            procs.append(sandbox.ossec_popen(command, "-", address, f"1.{n}", "5712"))
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    failed = [(job, err) for job, (code, err) in zip(jobs, results) if code != 0]
    assert failed == []
    for family, expected in ((4, [a for a in keep if ":" not in a]),
                             (6, [a for a in keep if ":" in a])):  # fmt: skip
        drops = sandbox.blocked(family)
        assert len(drops) == len(set(drops)), "duplicate rule"
        assert sorted(drops) == sorted(expected)
    assert sorted(r[0] for r in sandbox.ledger_rows()) == sorted(keep)
