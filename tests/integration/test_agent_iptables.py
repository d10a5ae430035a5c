"""firewall-drop against the real kernel, in a private namespace, for every backend
(iptables in both variants, ipset, nftables): what OSSEC and Wazuh agents will see."""

from __future__ import annotations

import re
import time

import pytest
from sandbox import MANAGER_IP, MANAGER_NAME_IP, AgentSandbox, wazuh_message

pytestmark = pytest.mark.netns

SAFEGUARD = {
    4: "-s 127.0.0.1/32 -m comment --comment activeresponse -j ACCEPT",
    6: "-s ::1/128 -m comment --comment activeresponse -j ACCEPT",
}
JUMP = "-m comment --comment activeresponse -j ACTIVERESPONSE"


NFT_HOOK = "priority filter - 10; policy accept;"
NFT_LOOPBACK = ["ip saddr 127.0.0.0/8 accept", "ip6 saddr ::1 accept"]


def assert_layout(box: AgentSandbox, family: int) -> None:
    """iptables and ipset: localhost ACCEPT first, our jump second, in INPUT and FORWARD,
    once each (ipset: and the chain looks our sets up). nftables: our two base chains
    before the filter ones, loopback accepted before any drop."""
    if box.kind == "nftables":
        for hook in ("input", "forward"):
            out = box.ns.run(["nft", "list", "chain", "inet", "activeresponse", hook]).stdout
            lines = [ln.strip() for ln in out.splitlines()][2:]
            assert lines[0] == f"type filter hook {hook} {NFT_HOOK}", out
            accepts = ['iif "lo" accept', *NFT_LOOPBACK] if hook == "input" else NFT_LOOPBACK
            assert lines[1 : 1 + len(accepts)] == accepts, out
            assert "ip saddr @v4 drop" in lines and "ip6 saddr @v6 drop" in lines, out
        return
    for hook in ("INPUT", "FORWARD"):
        rules = box.rules(hook, family)
        assert rules[:2] == [SAFEGUARD[family], JUMP], (hook, rules)
        assert sum("activeresponse" in r for r in rules) == 2, rules
    if box.kind == "ipset":
        assert box.rules("ACTIVERESPONSE", family) == [
            f"-m set --match-set activeresponse-{name}{family} src "
            "-m comment --comment activeresponse -j DROP"
            for name in ("v", "net")
        ]


def test_ossec_add_and_delete_ipv4_and_ipv6(sandbox: AgentSandbox) -> None:
    for address, family in (("192.0.2.7", 4), ("2001:db8::7", 6)):
        done = sandbox.ossec("add", "-", address, "1304756247.60385", "31151")
        assert done.returncode == 0, done.stderr
        assert sandbox.blocked(family) == [address]
        assert_layout(sandbox, family)
    rows = sandbox.ledger_rows()
    assert [r[0] for r in rows] == ["192.0.2.7", "2001:db8::7"]
    assert all(r[1] == "ossec" and r[3] == "31151" and r[4] == "1304756247.60385" for r in rows)
    # Expiry comes from ar.conf (600 s for firewall-drop.sh).
    assert all(abs(r[2] - time.time() - 600) < 30 for r in rows)

    for address, family in (("192.0.2.7", 4), ("2001:db8::7", 6)):
        done = sandbox.ossec("delete", "-", address, "1304756247.60385", "31151")
        assert done.returncode == 0, done.stderr
        assert sandbox.blocked(family) == []
        assert_layout(sandbox, family)  # safeguards stay
    assert sandbox.ledger_rows() == []
    assert len(sandbox.ledger_rows(active_only=False)) == 2  # history is kept


def test_add_twice_leaves_one_rule_and_extends(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.8", "1.1", "100").returncode == 0
    first = sandbox.ledger_rows()[0][2]
    time.sleep(1.1)
    assert sandbox.ossec("add", "-", "192.0.2.8", "1.2", "100").returncode == 0
    assert sandbox.blocked(4) == ["192.0.2.8"]
    rows = sandbox.ledger_rows()
    assert len(rows) == 1 and rows[0][2] > first


def test_delete_of_absent_address_is_a_noop(sandbox: AgentSandbox) -> None:
    before = sandbox.snapshot()
    done = sandbox.ossec("delete", "-", "192.0.2.9", "1.1", "100")
    assert done.returncode == 0, done.stderr
    assert sandbox.blocked(4) == [] and sandbox.ledger_rows() == []
    assert before[-1] == sandbox.snapshot()[-1]  # the ledger; safeguards may be put in place


@pytest.mark.parametrize("backend", ["iptables-nft", "iptables-legacy", "ipset"], indirect=True)
def test_safeguards_move_back_to_the_top(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.10", "1.1", "100").returncode == 0
    tool = f"iptables-{sandbox.variant}"
    sandbox.ns.run([tool, "-I", "INPUT", "1", "-s", "198.51.100.1", "-j", "ACCEPT"])
    sandbox.ns.run([tool, "-I", "FORWARD", "1", "-p", "tcp", "-j", "ACCEPT"])
    assert sandbox.ossec("add", "-", "192.0.2.11", "1.2", "100").returncode == 0
    assert_layout(sandbox, 4)
    # The other tool's rules are kept, just below ours.
    assert "-s 198.51.100.1/32 -j ACCEPT" in sandbox.rules("INPUT")
    assert sorted(sandbox.blocked(4)) == ["192.0.2.10", "192.0.2.11"]


def test_wiped_rule_is_restored_by_the_next_add(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.12", "1.1", "100").returncode == 0
    sandbox.wipe()
    assert sandbox.blocked(4) == []
    assert sandbox.ossec("add", "-", "192.0.2.12", "1.2", "100").returncode == 0
    assert sandbox.blocked(4) == ["192.0.2.12"]


def test_ossec_log_line_keeps_the_agent_shape(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "192.0.2.7", "1304756247.60385", "31151").returncode == 0
    assert sandbox.ossec("delete", "-", "192.0.2.7", "1304756247.60385", "31151").returncode == 0
    lines = sandbox.ar_log()
    date = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [A-Za-z+\-0-9]+ \d{4}"
    path = re.escape(str(sandbox.ossec_exe))
    assert re.fullmatch(rf"{date} {path} add - 192\.0\.2\.7 1304756247\.60385 31151", lines[0])
    assert re.fullmatch(rf"{date} {path} delete - 192\.0\.2\.7 1304756247\.60385 31151", lines[1])
    assert len(lines) == 2


def test_wazuh_continue_blocks(sandbox: AgentSandbox) -> None:
    code, out, err = sandbox.wazuh(wazuh_message("add", "198.51.100.20"), answer="continue")
    assert code == 0, err
    asked = __import__("json").loads(out.splitlines()[0])
    assert asked == {
        "version": 1,
        "origin": {"name": "firewall-drop", "module": "active-response"},
        "command": "check_keys",
        "parameters": {"keys": ["198.51.100.20"]},
    }
    assert sandbox.blocked(4) == ["198.51.100.20"]
    row = sandbox.ledger_rows()[0]
    assert row[:2] == ("198.51.100.20", "wazuh") and row[3] == "5715" and row[5] == "Test."
    log = sandbox.ar_log()
    stamp = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"
    prefix = rf"{stamp} {re.escape(str(sandbox.wazuh_exe))}: "
    assert re.fullmatch(prefix + "Starting", log[0])
    assert re.fullmatch(prefix + r"\{.*\"command\": \"add\".*", log[1])
    assert re.fullmatch(prefix + r"\{.*check_keys.*", log[2])
    assert re.fullmatch(prefix + "Ended", log[-1])

    # delete arrives later, without the handshake.
    code, out, err = sandbox.wazuh(wazuh_message("delete", "198.51.100.20"))
    assert code == 0, err
    assert out == "" and sandbox.blocked(4) == [] and sandbox.ledger_rows() == []


def test_wazuh_abort_blocks_nothing(sandbox: AgentSandbox) -> None:
    before = sandbox.snapshot()
    code, out, err = sandbox.wazuh(wazuh_message("add", "198.51.100.21"), answer="abort")
    assert code == 0, err
    assert "check_keys" in out
    assert sandbox.snapshot() == before
    assert any("Aborted" in line for line in sandbox.ar_log())


@pytest.mark.parametrize(
    ("mutate", "logged"),
    [
        (lambda m: m.pop("version"), "Invalid input format"),
        (lambda m: m.pop("parameters"), "Invalid input format"),
        (lambda m: m["parameters"]["alert"]["data"].pop("srcip"), "Cannot read 'srcip' from data"),
    ],
    ids=["no-version", "no-parameters", "no-srcip"],
)
def test_wazuh_malformed_messages(sandbox: AgentSandbox, mutate, logged: str) -> None:
    import json

    message = json.loads(wazuh_message("add", "198.51.100.22"))
    mutate(message)
    before = sandbox.snapshot()
    code, out, err = sandbox.wazuh(json.dumps(message))
    assert code == 2
    assert out == ""  # no check_keys for a message we cannot act on
    assert logged in err and "Traceback" not in err
    assert sandbox.snapshot() == before
    assert any(line.endswith(f": {logged}") for line in sandbox.ar_log())


def test_wazuh_invalid_ip_is_logged_like_wazuh(sandbox: AgentSandbox) -> None:
    before = sandbox.snapshot()
    code, out, err = sandbox.wazuh(wazuh_message("add", "not-an-ip"))
    assert code == 2 and out == "" and "not an IP address" in err
    assert sandbox.snapshot() == before
    assert any(
        line.endswith(": Unable to run active response (invalid IP: 'not-an-ip').")
        for line in sandbox.ar_log()
    )


def test_ossec_form_never_reads_stdin(sandbox: AgentSandbox) -> None:
    """Started the OSSEC way with a stdin that never closes, it must not wait on it."""
    import subprocess

    proc = subprocess.Popen(
        sandbox.argv(sandbox.ossec_exe, "add", "-", "192.0.2.30", "1", "2"),
        env=sandbox.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert sandbox.blocked(4) == ["192.0.2.30"]


def add_link(sandbox: AgentSandbox, name: str) -> None:
    """An up interface inside the namespace (a veth pair: dummy may not be built)."""
    sandbox.ns.ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    sandbox.ns.ip("link", "set", name, "up")
    sandbox.ns.ip("link", "set", f"{name}p", "up")


REFUSALS = {
    "hostname": "attacker.example.com",
    "cidr": "192.0.2.0/24",
    "shell-metacharacters": "192.0.2.7;reboot",
    "command-substitution": "$(reboot)",
    "option-injection": "-j ACCEPT",
    "zone-id": "fe80::1%eth0",
    "leading-zeros": "192.000.002.007",
    "loopback-v4": "127.0.0.1",
    "loopback-v4-range": "127.8.8.8",
    "loopback-v6": "::1",
    "loopback-mapped": "::ffff:127.0.0.1",
    "unspecified-v4": "0.0.0.0",
    "unspecified-v6": "::",
    "multicast-v4": "224.0.0.251",
    "multicast-v6": "ff02::1",
    "broadcast": "255.255.255.255",
    "subnet-broadcast": "192.0.2.255",
    "link-local-v4": "169.254.10.10",
    "link-local-v6": "fe80::1",
    "own-address": "192.0.2.1",
    "own-address-v6": "2001:db8:1::1",
    "manager-server-ip": MANAGER_IP,
    "manager-hostname": MANAGER_NAME_IP,
    "allowlist-ip": "198.51.100.77",
    "allowlist-cidr": "203.0.113.130",
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_guard_refuses(sandbox: AgentSandbox, name: str) -> None:
    sandbox.config.write_text(
        sandbox.config.read_text() + 'allowlist = ["198.51.100.77", "203.0.113.128/25"]\n'
    )
    add_link(sandbox, "own0")
    sandbox.ns.ip("addr", "add", "192.0.2.1/24", "brd", "+", "dev", "own0")
    sandbox.ns.ip("addr", "add", "2001:db8:1::1/64", "dev", "own0", "nodad")
    before = sandbox.snapshot()
    done = sandbox.ossec("add", "-", REFUSALS[name], "1.1", "100")
    assert done.returncode in (2, 3), done
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sandbox.snapshot() == before
    assert sandbox.ledger_rows(active_only=False) == []


def test_address_added_after_start_is_protected(sandbox: AgentSandbox) -> None:
    add_link(sandbox, "own1")
    assert sandbox.ossec("add", "-", "198.51.100.99", "1.1", "100").returncode == 0
    sandbox.ns.ip("addr", "add", "198.51.100.98/32", "dev", "own1")
    assert sandbox.ossec("add", "-", "198.51.100.98", "1.1", "100").returncode == 3
    assert sandbox.blocked(4) == ["198.51.100.99"]


def test_mapped_address_is_normalised(sandbox: AgentSandbox) -> None:
    assert sandbox.ossec("add", "-", "::ffff:198.51.100.40", "1.1", "100").returncode == 0
    assert sandbox.blocked(4) == ["198.51.100.40"] and sandbox.blocked(6) == []
    assert sandbox.ledger_rows()[0][0] == "198.51.100.40"


def test_fifty_concurrent_adds(sandbox: AgentSandbox) -> None:
    addresses = [f"198.51.100.{i}" for i in range(100, 150)]
    procs = [sandbox.ossec_popen("add", "-", a, f"1.{i}", "100") for i, a in enumerate(addresses)]
    results = [(p.wait(timeout=120), p.communicate()) for p in procs]
    assert all(code == 0 for code, _ in results), [r for r in results if r[0]]
    assert sorted(sandbox.blocked(4)) == sorted(addresses)
    assert sorted(r[0] for r in sandbox.ledger_rows()) == sorted(addresses)
    assert_layout(sandbox, 4)


def test_agent_delete_keeps_an_admin_block(sandbox: AgentSandbox) -> None:
    """An agent's timed delete must not lift a block an admin made on purpose."""
    import sqlite3

    assert sandbox.ossec("add", "-", "192.0.2.50", "1.1", "100").returncode == 0
    with sqlite3.connect(sandbox.state / "ledger.sqlite3") as db:
        db.execute("UPDATE blocks SET origin = 'admin', expires = NULL")
    assert sandbox.ossec("delete", "-", "192.0.2.50", "1.1", "100").returncode == 0
    assert sandbox.blocked(4) == ["192.0.2.50"]
    assert sandbox.ledger_rows()[0][:3] == ("192.0.2.50", "admin", None)
