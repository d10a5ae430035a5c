from __future__ import annotations

import json

import pytest

from activeresponse import protocol
from activeresponse.errors import ProtocolError


def message(**over: object) -> bytes:
    base: dict = {
        "version": 1,
        "origin": {"name": "", "module": "wazuh-execd"},
        "command": "add",
        "parameters": {
            "alert": {"rule": {"id": 5715}, "data": {"srcip": "3.3.3.3", "dstuser": "root"}}
        },
    }
    base.update(over)
    return json.dumps(base).encode()


def test_protocol_is_decided_from_argv() -> None:
    assert protocol.is_wazuh_invocation(["firewall-drop"])
    assert not protocol.is_wazuh_invocation(["firewall-drop.sh", "add", "-", "1.2.3.4"])


def test_ossec_argv() -> None:
    req = protocol.parse_ossec(
        [
            "add",
            "-",
            "172.16.0.1",
            "1304756247.60385",
            "31151",
            "(host)",
            "10.0.0.1->/var/log/secure",
        ]
    )
    assert (req.action, req.address, req.user, req.alert_id, req.rule_id) == (
        "add",
        "172.16.0.1",
        "",
        "1304756247.60385",
        "31151",
    )
    assert req.location == "(host) 10.0.0.1->/var/log/secure"
    assert protocol.parse_ossec(["delete", "root", "::1"]).user == "root"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["block", "-", "1.2.3.4"],
        ["add"],
        ["add", "-"],
        ["add", "-", "-"],
        ["ADD", "-", "1.2.3.4"],
    ],
)
def test_ossec_bad_argv(args: list[str]) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_ossec(args)


def test_wazuh_message() -> None:
    req = protocol.parse_wazuh(protocol.decode_message(message()))
    assert (req.protocol, req.action, req.address, req.rule_id, req.user) == (
        "wazuh",
        "add",
        "3.3.3.3",
        "5715",
        "root",
    )


def test_wazuh_windows_address() -> None:
    raw = message(parameters={"alert": {"data": {"win": {"eventdata": {"ipAddress": "3.3.3.4"}}}}})
    assert protocol.parse_wazuh(protocol.decode_message(raw)).address == "3.3.3.4"


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        (b"", "Invalid input format"),
        (b"not json", "Invalid input format"),
        (b"[1,2]", "Invalid input format"),
        (b'{"version":1}', "Invalid input format"),
        (message(version="1"), "Invalid input format"),
        (message(version=True), "Invalid input format"),
        (message(origin="x"), "Invalid input format"),
        (message(parameters=[]), "Invalid input format"),
        (b"\xff\xfe{}", "Invalid input format"),
        (b"[" * 100000 + b"]" * 100000, "Invalid input format"),
        (b'{"a":' * 50000 + b"1" + b"}" * 50000, "Invalid input format"),
        (b" " * (protocol.MAX_MESSAGE + 1), "Invalid input format"),
        (message()[:-5], "Invalid input format"),
    ],
)
def test_wazuh_envelope_errors(raw: bytes, logged: str) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.decode_message(raw)
    assert err.value.log_message == logged


def test_wazuh_bad_command_and_missing_srcip() -> None:
    with pytest.raises(ProtocolError, match="Invalid value of 'command'"):
        protocol.parse_wazuh(protocol.decode_message(message(command="rm")))
    with pytest.raises(ProtocolError, match="Cannot read 'srcip' from data"):
        protocol.parse_wazuh(protocol.decode_message(message(parameters={"alert": {"data": {}}})))
    with pytest.raises(ProtocolError, match="Cannot read 'srcip' from data"):
        protocol.parse_wazuh(protocol.decode_message(message(parameters={})))


def test_check_keys_and_answer() -> None:
    line = protocol.check_keys_message("active-response/bin/firewall-drop", ["3.3.3.3"])
    assert json.loads(line) == {
        "version": 1,
        "origin": {"name": "firewall-drop", "module": "active-response"},
        "command": "check_keys",
        "parameters": {"keys": ["3.3.3.3"]},
    }
    assert "\n" not in line
    assert protocol.decode_answer(message(command="continue")) == "continue"
    assert protocol.decode_answer(message(command="abort")) == "abort"
    with pytest.raises(ProtocolError):
        protocol.decode_answer(message(command="add"))
