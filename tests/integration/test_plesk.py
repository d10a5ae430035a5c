"""The Plesk backend against the real kernel: a fake Plesk tree whose simulated firewall
CLI rebuilds the test namespace's iptables the way Plesk's apply does, firewall-drop run
exactly as an agent runs it, and real packets between namespaces."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from plesk_sim import FakePlesk, make_tree
from sandbox import AgentSandbox

from activeresponse.netns import Namespace, link, pings
from plesk.backend import ALLOW_NAME
from plesk.firewall_cli import AUTO_CONFIRM

pytestmark = pytest.mark.netns

HELPER = Path(__file__).resolve().parents[1] / "plesk_sim" / "backend_helper.py"
VICTIM, ATTACKER = ("192.0.2.1", "2001:db8::1"), ("192.0.2.66", "2001:db8::66")


@pytest.fixture
def fake(tmp_path: Path) -> FakePlesk:
    return make_tree(tmp_path / "plesk", "18.0", "debian")


def sandbox(tmp_path: Path, ns: Namespace, fake: FakePlesk, backend: str = "plesk") -> AgentSandbox:
    extra = f'backend = "{backend}"\nplesk_root = "{fake.root}"\n'
    return AgentSandbox(tmp_path / "agent", ns, "iptables-nft", config_extra=extra)


@pytest.fixture
def box(tmp_path: Path, ns: Namespace, fake: FakePlesk) -> Iterator[AgentSandbox]:
    b = sandbox(tmp_path, ns, fake)
    yield b
    b.cleanup()


@pytest.fixture
def attacker(ns: Namespace) -> Iterator[Namespace]:
    with Namespace.create("ar-atk") as atk:
        link(
            ns,
            [f"{VICTIM[0]}/24", f"{VICTIM[1]}/64"],
            atk,
            [f"{ATTACKER[0]}/24", f"{ATTACKER[1]}/64"],
        )
        yield atk


def plesk_apply(ns: Namespace, fake: FakePlesk) -> None:
    """An apply somebody else makes (an admin, Plesk itself), inside the namespace."""
    ns.run([*fake.cli, "--apply", AUTO_CONFIRM])


def helper(box: AgentSandbox, verb: str) -> tuple[int, dict]:
    done = box.ns.run([sys.executable, str(HELPER), str(box.config), verb], check=False)
    return done.returncode, json.loads(done.stdout or "{}")


def drops(box: AgentSandbox, chain: str, family: int = 4) -> list[str]:
    """Sources of plain ``-s X -j DROP`` rules (what Plesk emits for our deny rules)."""
    out = []
    for rule in box.rules(chain, family):
        words = rule.split()
        if words[-2:] == ["-j", "DROP"] and words[:1] == ["-s"] and len(words) == 4:
            out.append(words[1].split("/")[0])
    return out


def our_rules(fake: FakePlesk) -> dict[str, list[str]]:
    return {r["name"]: r["from"] for r in fake.custom_rules()}


def test_plain_iptables_block_is_wiped_by_a_plesk_apply(
    tmp_path: Path, ns: Namespace, fake: FakePlesk, attacker: Namespace
) -> None:
    """Why the Plesk backend exists: the iptables backend's block does not survive."""
    box = sandbox(tmp_path, ns, fake, backend="iptables")
    try:
        assert pings(attacker, VICTIM[0]), "no traffic before the block: broken setup"
        assert box.ossec("add", "-", ATTACKER[0], "1.1", "5712").returncode == 0
        assert "-m comment --comment activeresponse -j ACTIVERESPONSE" in box.rules("INPUT")
        assert not pings(attacker, VICTIM[0], count=2)
        plesk_apply(ns, fake)
        assert not any("activeresponse" in r for r in box.rules("INPUT") + box.rules("FORWARD"))
        assert box.drops() == [ATTACKER[0]]  # our chain survives, but nothing jumps to it
        assert pings(attacker, VICTIM[0]), "the plain block should be gone after Plesk's apply"
    finally:
        box.cleanup()


def test_plesk_blocks_survive_applies_with_real_packets(
    box: AgentSandbox, ns: Namespace, fake: FakePlesk, attacker: Namespace
) -> None:
    for victim in VICTIM:
        assert pings(attacker, victim), "no traffic before the block: broken setup"
    for source in ATTACKER:
        done = box.ossec("add", "-", source, "1.1", "5712")
        assert done.returncode == 0, done.stderr
    rules = our_rules(fake)
    assert rules["activeresponse-deny-incoming-1"] == list(ATTACKER)
    assert rules["activeresponse-deny-forwarding-1"] == list(ATTACKER)
    for _ in range(3):
        for family, (victim, source) in zip((4, 6), zip(VICTIM, ATTACKER)):
            assert drops(box, "INPUT", family) == [source]
            assert drops(box, "FORWARD", family) == [source]
            assert not pings(attacker, victim, count=2)
        plesk_apply(ns, fake)
    for source in ATTACKER:
        done = box.ossec("delete", "-", source, "1.1", "5712")
        assert done.returncode == 0, done.stderr
    assert not any(name.startswith("activeresponse-deny") for name in our_rules(fake))
    for family, victim in zip((4, 6), VICTIM):
        assert drops(box, "INPUT", family) == [] and drops(box, "FORWARD", family) == []
        assert pings(attacker, victim)
    assert box.ledger_rows() == []


def test_forward_path_blocked_through_plesk(
    box: AgentSandbox, ns: Namespace, fake: FakePlesk
) -> None:
    """attacker -- host (Plesk, routing) -- server."""
    with Namespace.create("ar-atk") as atk, Namespace.create("ar-srv") as server:
        link(atk, ["198.51.100.66/24"], ns, ["198.51.100.1/24"])
        link(ns, ["203.0.113.1/24"], server, ["203.0.113.10/24"])
        ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        atk.ip("route", "add", "default", "via", "198.51.100.1")
        server.ip("route", "add", "default", "via", "203.0.113.1")
        plesk_apply(ns, fake)  # Plesk's own rules in place first, as on a real server
        assert pings(atk, "203.0.113.10"), "no forwarding before the block: broken setup"
        assert box.ossec("add", "-", "198.51.100.66", "1.1", "5712").returncode == 0
        plesk_apply(ns, fake)
        assert not pings(atk, "203.0.113.10", count=2)
        assert box.ossec("delete", "-", "198.51.100.66", "1.1", "5712").returncode == 0
        assert pings(atk, "203.0.113.10")


def test_localhost_allow_rules_made_once(box: AgentSandbox, fake: FakePlesk) -> None:
    for attempt in (1, 2):
        code, _ = helper(box, "setup")
        assert code == 0
        named = [r for r in fake.custom_rules() if r["name"] in ALLOW_NAME.values()]
        assert sorted((r["name"], r["direction"], r["action"], r["from"]) for r in named) == [
            (ALLOW_NAME["forward"], "forward", "allow", ["127.0.0.1", "::1"]),
            (ALLOW_NAME["input"], "input", "allow", ["127.0.0.1", "::1"]),
        ], f"after setup {attempt}"
        assert len(fake.applies()) == 1  # the second setup changes nothing, applies nothing
    for chain in ("INPUT", "FORWARD"):
        assert "-s 127.0.0.1/32 -j ACCEPT" in box.rules(chain, 4)
        assert "-s ::1/128 -j ACCEPT" in box.rules(chain, 6)
    code, status = helper(box, "status")
    assert code == 0 and status["safeguards_ok"] and not status["pending"]
    assert "plesk: Plesk 18.0.61" in status["describe"]


def test_fifty_concurrent_blocks_coalesce_into_a_few_applies(
    box: AgentSandbox, fake: FakePlesk
) -> None:
    fake.configure(apply_seconds=1.0)
    sources = [f"198.51.100.{i}" for i in range(1, 51)]
    procs = [box.ossec_popen("add", "-", s, f"1.{i}", "5712") for i, s in enumerate(sources)]
    exited: dict[int, float] = {}
    deadline = time.time() + 120
    while len(exited) < len(procs) and time.time() < deadline:
        for p in procs:
            if p.pid not in exited and p.poll() is not None:
                exited[p.pid] = time.time()
        time.sleep(0.005)
    results = [(p.wait(timeout=1), p.stderr.read()) for p in procs]
    assert [r for r in results if r[0] != 0] == []
    applies = fake.applies()
    # A process that finds a round running queues its request and exits at once, so the
    # others' exit times are when requests arrived. Each round takes one apply (1 s), so
    # requests arriving over W seconds need at most 2 + W rounds. On an idle machine the
    # 50 pass through the lock in about a second: 2 applies; a loaded one stretches W.
    runners = {a["pid"] for a in applies}
    arrivals = [t for pid, t in exited.items() if pid not in runners]
    window = max(arrivals) - applies[0]["start"] if arrivals else 0.0
    assert 1 <= len(applies) <= 2 + int(window / 1.0), (window, applies)
    assert all(a["ok"] for a in applies)
    for before, after in zip(applies, applies[1:]):
        assert after["start"] >= before["end"], "two applies overlapped"
    assert fake.refused_applies() == []
    rules = our_rules(fake)
    for name in ("activeresponse-deny-incoming-1", "activeresponse-deny-forwarding-1"):
        assert sorted(rules[name]) == sorted(sources)
    assert sorted(drops(box, "INPUT")) == sorted(sources)
    assert sorted(drops(box, "FORWARD")) == sorted(sources)
    assert len(box.ledger_rows()) == 50
    calls = [c["verb"] for c in fake.calls()]
    assert calls.count("--list-json") <= len(applies) + 1


def test_unblock_then_failed_apply_is_kept_pending_and_retried(
    box: AgentSandbox, fake: FakePlesk, attacker: Namespace
) -> None:
    other = "192.0.2.77"
    assert box.ossec("add", "-", ATTACKER[0], "1.1", "5712").returncode == 0
    assert box.ossec("add", "-", other, "1.2", "5712").returncode == 0
    assert sorted(drops(box, "INPUT")) == sorted([ATTACKER[0], other])
    assert not pings(attacker, VICTIM[0], count=2)

    fake.configure(fail_apply=1)
    done = box.ossec("delete", "-", ATTACKER[0], "1.1", "5712")
    assert done.returncode == 1
    assert "--apply failed" in done.stderr and "simulated failure" in done.stderr
    # The ledger and Plesk's rules moved on; the kernel did not: that is what is pending.
    assert [r[0] for r in box.ledger_rows()] == [other]
    assert our_rules(fake)["activeresponse-deny-incoming-1"] == [other]
    assert sorted(drops(box, "INPUT")) == sorted([ATTACKER[0], other])
    code, status = helper(box, "status")
    assert status["pending"] and "simulated failure" in status["last_error"]
    assert "apply pending" in status["describe"]
    code, out = helper(box, "retry")  # still failing: still pending
    assert code == 1 and "simulated failure" in out["error"]
    assert helper(box, "status")[1]["pending"]

    fake.configure(fail_apply=0)
    code, out = helper(box, "retry")
    assert (code, out) == (0, {"applies": 1})
    assert drops(box, "INPUT") == [other] and drops(box, "FORWARD") == [other]
    assert pings(attacker, VICTIM[0])
    code, status = helper(box, "status")
    assert not status["pending"] and status["last_error"] == ""
    assert helper(box, "retry")[1] == {"applies": 0}  # nothing left to do


def test_sync_repairs_what_an_admin_changed(
    box: AgentSandbox, ns: Namespace, fake: FakePlesk
) -> None:
    assert box.ossec("add", "-", "192.0.2.70", "1.1", "5712").returncode == 0
    assert box.ossec("add", "-", "192.0.2.71", "1.2", "5712").returncode == 0
    rules = {r["name"]: r for r in fake.custom_rules()}
    deny_in = rules["activeresponse-deny-incoming-1"]
    # An admin edits our rule in Plesk's UI and adds a second copy of a localhost rule.
    ns.run([*fake.cli, "--set-rule", "-id", str(deny_in["id"]), "-remote-addresses", "192.0.2.70"])
    copy = ["-name", ALLOW_NAME["input"], "-direction", "input", "-action", "allow"]
    ns.run([*fake.cli, "--set-rule", *copy, "-remote-addresses", "127.0.0.1,::1"])
    plesk_apply(ns, fake)
    assert drops(box, "INPUT") == ["192.0.2.70"]
    code, out = helper(box, "sync")
    assert code == 0, out
    assert "added 192.0.2.71 to Plesk rule activeresponse-deny-incoming-1" in out["actions"]
    assert any(a.startswith(f"removed duplicate {ALLOW_NAME['input']}") for a in out["actions"])
    assert sorted(drops(box, "INPUT")) == ["192.0.2.70", "192.0.2.71"]
    assert [r["name"] for r in fake.custom_rules()].count(ALLOW_NAME["input"]) == 1
    code, out = helper(box, "sync")
    assert (code, out["actions"]) == (0, [])  # in line: nothing to do


def test_old_settings_cli_of_plesk_12_5(tmp_path: Path, ns: Namespace, attacker: Namespace) -> None:
    fake = make_tree(tmp_path / "plesk", "12.5", "rhel")
    box = sandbox(tmp_path, ns, fake)
    try:
        assert box.ossec("add", "-", ATTACKER[0], "1.1", "5712").returncode == 0
        assert {c["verb"] for c in fake.calls()} >= {"--list-json", "--set-rule", "--apply"}
        assert drops(box, "INPUT") == [ATTACKER[0]]
        assert not pings(attacker, VICTIM[0], count=2)
        assert box.ossec("delete", "-", ATTACKER[0], "1.1", "5712").returncode == 0
        assert drops(box, "INPUT") == []
        assert pings(attacker, VICTIM[0])
    finally:
        box.cleanup()


def test_an_apply_already_running_is_waited_for(
    box: AgentSandbox, ns: Namespace, fake: FakePlesk
) -> None:
    """An admin clicked "Apply" in Plesk just before the alert: ours waits, then applies."""
    fake.configure(apply_seconds=2.0)
    admin = subprocess.Popen(ns.exec_argv([*fake.cli, "--apply", AUTO_CONFIRM]))
    try:
        deadline = time.monotonic() + 10
        while not fake.calls() and time.monotonic() < deadline:  # the admin's apply started
            time.sleep(0.05)
        done = box.ossec("add", "-", "192.0.2.80", "1.1", "5712")
        assert done.returncode == 0, done.stderr
    finally:
        assert admin.wait(timeout=30) == 0
    assert fake.refused_applies(), "ours should have met the admin's apply"
    applies = fake.applies()
    assert len(applies) == 2 and applies[1]["start"] >= applies[0]["end"]
    assert drops(box, "INPUT") == ["192.0.2.80"]


def test_admin_commands_on_the_plesk_backend(box: AgentSandbox, fake: FakePlesk) -> None:
    """status, list, delete N, expire and flush work as on the other backends."""
    for i, source in enumerate(("198.51.100.5", "198.51.100.6", "198.51.100.7")):
        assert box.ossec("add", "-", source, f"1.{i}", "5712").returncode == 0
    status = box.cli("status", "--json")
    info = json.loads(status.stdout)
    assert status.returncode == 0, status.stderr
    assert info["backend"].startswith("plesk") and "Plesk 18.0" in info["plesk"]
    rows = json.loads(box.cli("list", "--json").stdout)["blocks"]
    assert [(r["number"], r["address"], r["enforced"]) for r in rows] == [
        (1, "198.51.100.5", True),
        (2, "198.51.100.6", True),
        (3, "198.51.100.7", True),
    ]
    assert box.cli("delete", "2", "--yes").returncode == 0
    assert sorted(drops(box, "INPUT")) == ["198.51.100.5", "198.51.100.7"]
    assert "198.51.100.6" not in our_rules(fake)["activeresponse-deny-incoming-1"]
    import sqlite3

    with sqlite3.connect(box.state / "ledger.sqlite3") as db:
        db.execute("UPDATE blocks SET expires = ? WHERE address = '198.51.100.5'",
                   (time.time() - 1,))  # fmt: skip
    out = box.cli("expire")
    assert out.returncode == 0 and "expired 198.51.100.5" in out.stdout
    assert drops(box, "INPUT") == ["198.51.100.7"]
    assert box.cli("flush", "--yes").returncode == 0
    assert drops(box, "INPUT") == [] and drops(box, "FORWARD") == []
    assert "-s 127.0.0.1/32 -j ACCEPT" in box.rules("INPUT", 4)  # the localhost rules stay
