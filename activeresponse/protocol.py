"""The two agent protocols, parsed into one :class:`Request`.

- OSSEC 2.x: ``add|delete <user|-> <srcip|-> <alert_id> <rule_id> <location...> [file]``
  as argv words (execd splits on single spaces; ``location`` may span several words).
- Wazuh 4.2+: no arguments; one JSON line on stdin. On ``add`` we answer with a
  ``check_keys`` line on stdout and read ``continue`` or ``abort`` back.

The protocol is decided from argv alone, before stdin is touched: a program that waits
on stdin when started the OSSEC way would hang the agent.
"""

from __future__ import annotations

import os

from .errors import ProtocolError

ACTIONS = ("add", "delete")

# Wazuh's OS_MAXSTR: execd never sends more on one line.
MAX_MESSAGE = 65536


class Request:
    """One agent request: what to do to which address, and why."""

    __slots__ = (
        "action",
        "address",
        "alert",
        "alert_id",
        "location",
        "protocol",
        "rule_id",
        "user",
    )

    def __init__(
        self,
        protocol: str,
        action: str,
        address: str,
        *,
        user: str = "",
        alert_id: str = "",
        rule_id: str = "",
        location: str = "",
        alert: dict | None = None,
    ) -> None:
        self.protocol = protocol
        self.action = action
        self.address = address
        self.user = user
        self.alert_id = alert_id
        self.rule_id = rule_id
        self.location = location
        self.alert = alert

    def __repr__(self) -> str:
        return f"Request({self.protocol}, {self.action}, {self.address!r})"


def is_wazuh_invocation(argv: list[str]) -> bool:
    """Wazuh 4.2+ passes no arguments; OSSEC always passes the action first."""
    return len(argv) <= 1


def _dash(word: str) -> str:
    return "" if word == "-" else word


def parse_ossec(args: list[str]) -> Request:
    """Parse OSSEC argv (without the program name)."""
    if not args or args[0] not in ACTIONS:
        raise ProtocolError("Invalid action", f"expected add or delete, got {args[:1]}")
    if len(args) < 3 or _dash(args[2]) == "":
        raise ProtocolError("Invalid input format", "no source IP (usage: add|delete user ip ...)")
    return Request(
        "ossec",
        args[0],
        args[2],
        user=_dash(args[1]),
        alert_id=args[3] if len(args) > 3 else "",
        rule_id=args[4] if len(args) > 4 else "",
        location=" ".join(args[5:]),
    )


def decode_message(raw: bytes) -> dict:
    """Decode one Wazuh message line; check the envelope as wazuh-execd's scripts do."""
    import json

    if len(raw) > MAX_MESSAGE:
        raise ProtocolError("Invalid input format", f"message longer than {MAX_MESSAGE} bytes")
    try:
        message = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: RecursionError
        raise ProtocolError("Invalid input format", "not a JSON object") from None
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("version"), (int, float))
        or isinstance(message.get("version"), bool)
        or not isinstance(message.get("origin"), dict)
        or not isinstance(message.get("command"), str)
        or not isinstance(message.get("parameters"), dict)
    ):
        raise ProtocolError("Invalid input format")
    return message


def _get(obj: object, *path: str) -> object:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def source_address(alert: object) -> str | None:
    """The attacker address of a Wazuh alert: ``data.srcip``; Windows events carry it in
    ``data.win.eventdata.ipAddress`` (then ``destinationIp``); newer schemas ``source.ip``."""
    for path in (
        ("data", "srcip"),
        ("data", "win", "eventdata", "ipAddress"),
        ("data", "win", "eventdata", "destinationIp"),
        ("source", "ip"),
    ):
        value = _get(alert, *path)
        if isinstance(value, str) and value:
            return value
    return None


def log_line(alert: object) -> str:
    """The alert's original log line (Wazuh's ``full_log``), or ``""``."""
    value = _get(alert, "full_log")
    return value if isinstance(value, str) else ""


def parse_wazuh(message: dict) -> Request:
    """Turn a decoded Wazuh message into a request."""
    command = message["command"]
    if command not in ACTIONS:
        raise ProtocolError("Invalid value of 'command'")
    alert = _get(message, "parameters", "alert")
    address = source_address(alert)
    if address is None:
        if not log_line(alert):
            raise ProtocolError("Cannot read 'srcip' from data")
        address = ""  # the agent looks for the attacker in the log line (attacker.py)
    assert isinstance(alert, dict)
    rule = alert.get("rule") if isinstance(alert.get("rule"), dict) else {}
    data = alert.get("data") if isinstance(alert.get("data"), dict) else {}
    user = data.get("dstuser") or data.get("srcuser") or ""
    return Request(
        "wazuh",
        command,
        address,
        user=user if isinstance(user, str) else "",
        alert_id=str(alert.get("id", "")) if isinstance(alert.get("id"), (str, int)) else "",
        rule_id=str(rule.get("id", "")) if isinstance(rule.get("id"), (str, int)) else "",
        location=alert.get("location", "") if isinstance(alert.get("location"), str) else "",
        alert=alert,
    )


def check_keys_message(program: str, keys: list[str]) -> str:
    """The line asking execd whether these keys are already being handled."""
    import json

    return json.dumps(
        {
            "version": 1,
            "origin": {"name": os.path.basename(program), "module": "active-response"},
            "command": "check_keys",
            "parameters": {"keys": keys},
        },
        separators=(",", ":"),
    )


def decode_answer(raw: bytes) -> str:
    """execd's answer to check_keys: ``continue`` or ``abort``."""
    message = decode_message(raw)
    command = message["command"]
    if command not in ("continue", "abort"):
        raise ProtocolError("Invalid value of 'command'")
    return command
