"""The attacker's address from a log line (the agent's fallback when srcip is missing or
the host's own address)."""

from __future__ import annotations

import pytest

from activeresponse.attacker import candidates, from_log

OWN = {"192.0.2.1", "2001:db8:1::1"}


def acceptable(address: str) -> bool:
    return address not in OWN and not address.startswith("127.")


@pytest.mark.parametrize(
    ("line", "address", "pattern"),
    [
        (
            "May  3 15:04:18 web1 sshd[811]: pam_unix(sshd:auth): authentication failure; "
            "logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root",
            "203.0.113.9",
            "rhost=",
        ),
        (
            "May  3 15:04:18 web1 sshd[811]: Failed password for root from 203.0.113.9 "
            "port 52814 ssh2",
            "203.0.113.9",
            "from <address>",
        ),
        (
            "[Fri May 03 15:04:18.123 2024] [auth_basic:error] [pid 99] "
            "[client 203.0.113.9:51234] AH01618: user admin not found: /admin",
            "203.0.113.9",
            "client <address>",
        ),
        ("dovecot: auth: pam(x,rhost=2001:db8::9): failed", "2001:db8::9", "rhost="),
        ("Accepted publickey for a from ::ffff:203.0.113.9 port 1 ssh2", "203.0.113.9", None),
        ("Connection closed by 203.0.113.9 port 22 from 203.0.113.9.", "203.0.113.9", None),
        ("rhost=203.0.113.9 on 192.0.2.1 from 192.0.2.1", "203.0.113.9", "rhost="),
        ("named: client 203.0.113.9#53124: query (cache) denied", "203.0.113.9", None),
    ],
)
def test_found(line: str, address: str, pattern: str | None) -> None:
    found, _ = from_log(line, acceptable)
    assert found is not None and found.address == address
    if pattern:
        assert found.pattern == pattern


@pytest.mark.parametrize(
    "line",
    [
        "",
        "authentication failure; rhost=attacker.example.com user=root",  # a name: no DNS
        "rhost=192.0.2.1 user=root",  # our own address
        "rhost=127.0.0.1",
        "rhost=010.0.0.1",  # ambiguous leading zero, refused by the strict parser
        "rhost=203.0.113.9/24",
        "from 203.0.113.9x",
        "client 2001:db8::1:51234",  # Apache 2.4 IPv6 with a port: cannot be told apart
        # A user name carrying a second address: ambiguous, neither is used.
        "Failed password for invalid user from 198.51.100.7 from 203.0.113.9 port 22",
        "Invalid user rhost=198.51.100.7 from 203.0.113.9",
    ],
)
def test_nothing_found(line: str) -> None:
    found, _ = from_log(line, acceptable)
    assert found is None


def test_ambiguity_is_reported() -> None:
    found, notes = from_log("rhost=198.51.100.7 from 203.0.113.9", acceptable)
    assert found is None and any("ambiguous" in n for n in notes)


def test_huge_hostile_line_is_bounded() -> None:
    line = "x" * 1_000_000 + " rhost=203.0.113.9"
    assert candidates(line) == []  # past the 64 KiB execd limit: not looked at
    assert [c.address for c in candidates("rhost=203.0.113.9 " + "y" * 1_000_000)] == [
        "203.0.113.9"
    ]
