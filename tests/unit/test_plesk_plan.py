"""Plesk backend planning: pure, from a --list-json snapshot; no command runs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from activeresponse.model import Block
from plesk.backend import (
    ALLOW_NAME,
    QUEUED,
    PleskBackend,
    PleskState,
    canonical,
)
from plesk.detect import PleskInfo
from plesk.firewall_cli import FirewallRule

CLI = ["/usr/sbin/plesk", "ext", "firewall"]


def backend(tmp_path: Path, per_rule: int = 250) -> PleskBackend:
    info = PleskInfo("/")
    info.present = True
    info.cli = CLI
    return PleskBackend(info, str(tmp_path), lambda: [], per_rule=per_rule)


def block(address: str) -> Block:
    return Block(ipaddress.ip_network(address), created=0, expires=None, origin="admin")


def rule(id: int, name: str, direction: str, action: str, remote: list[str], **kw) -> FirewallRule:
    return FirewallRule(str(id), name, direction, action, remote, **kw)


SYSTEM = [
    rule(1, "SSH (secure shell) server", "input", "allow", [], ports=["22/tcp"], cls="ssh"),
    rule(5, "System policy for incoming traffic", "input", "deny", [], cls="policy-incoming"),
]
SAFE = [
    rule(8, ALLOW_NAME["input"], "input", "allow", ["127.0.0.1", "::1"]),
    rule(9, ALLOW_NAME["forward"], "forward", "allow", ["127.0.0.1", "::1"]),
]


def deny(id: int, direction: str, n: int, remote: list[str]) -> FirewallRule:
    word = "incoming" if direction == "input" else "forwarding"
    return rule(id, f"activeresponse-deny-{word}-{n}", direction, "deny", remote)


def opts(argv: list[str]) -> dict[str, str]:
    """-name/-id/... of a CLI argv."""
    words = argv[len(CLI) + 1 :]
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


def test_fresh_server_gets_both_allow_rules_and_chunked_deny_rules(tmp_path: Path) -> None:
    b = backend(tmp_path, per_rule=3)
    addrs = [f"192.0.2.{i}" for i in range(1, 8)]
    batch = b.plan_sync(PleskState(list(SYSTEM)), [block(a) for a in addrs], (4, 6))
    sets = [opts(s.argv) for s in batch.steps]
    assert all(s.argv[len(CLI)] == "--set-rule" for s in batch.steps)
    assert all("-id" not in o for o in sets)  # everything created, nothing updated
    allow = [o for o in sets if o["-action"] == "allow"]
    assert [(o["-name"], o["-direction"], o["-remote-addresses"]) for o in allow] == [
        ("activeresponse-allow-localhost-incoming", "input", "127.0.0.1,::1"),
        ("activeresponse-allow-localhost-forwarding", "forward", "127.0.0.1,::1"),
    ]
    denies = {o["-name"]: o["-remote-addresses"] for o in sets if o["-action"] == "deny"}
    for word in ("incoming", "forwarding"):
        assert denies[f"activeresponse-deny-{word}-1"] == "192.0.2.1,192.0.2.2,192.0.2.3"
        assert denies[f"activeresponse-deny-{word}-2"] == "192.0.2.4,192.0.2.5,192.0.2.6"
        assert denies[f"activeresponse-deny-{word}-3"] == "192.0.2.7"
    assert len(denies) == 6
    assert any(
        "created Plesk rule activeresponse-allow-localhost-incoming" in a for a in batch.actions
    )


def test_in_sync_snapshot_plans_nothing(tmp_path: Path) -> None:
    state = PleskState(
        [
            *SYSTEM,
            *SAFE,
            # Plesk may print a single address with its prefix length: same address.
            deny(10, "input", 1, ["192.0.2.7/32", "2001:db8::7", "198.51.100.0/24"]),
            deny(11, "forward", 1, ["192.0.2.7", "2001:db8::7/128", "198.51.100.0/24"]),
        ]
    )
    blocks = [block("192.0.2.7"), block("2001:db8::7"), block("198.51.100.0/24")]
    b = backend(tmp_path)
    assert not b.plan_sync(state, blocks, (4, 6))
    assert b.safeguards_ok(state)
    assert b.enforced(state) == {ipaddress.ip_network(x.address) for x in blocks}


def test_removal_updates_by_id_and_an_emptied_rule_is_removed(tmp_path: Path) -> None:
    state = PleskState(
        [
            *SAFE,
            deny(10, "input", 1, ["192.0.2.1", "192.0.2.2"]),
            deny(11, "input", 2, ["192.0.2.3"]),
            deny(12, "forward", 1, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]),
        ]
    )
    batch = backend(tmp_path).plan_sync(state, [block("192.0.2.1")], (4, 6))
    argvs = [s.argv[len(CLI) :] for s in batch.steps]
    updates = [opts(s.argv) for s in batch.steps if "--set-rule" in s.argv]
    assert {(o["-id"], o["-remote-addresses"]) for o in updates} == {
        ("10", "192.0.2.1"),
        ("12", "192.0.2.1"),
    }
    assert ["--remove-rule", "-id", "11"] in argvs
    assert argvs[-1] == ["--remove-rule", "-id", "11"]  # removals come last
    assert "removed 192.0.2.2 from Plesk rule activeresponse-deny-incoming-1" in batch.actions


def test_additions_fill_the_last_rule_then_create_the_next_number(tmp_path: Path) -> None:
    state = PleskState(
        [
            *SAFE,
            deny(10, "input", 1, ["192.0.2.1", "192.0.2.2"]),
            deny(12, "forward", 1, ["192.0.2.1", "192.0.2.2"]),
        ]
    )
    wanted = [block(f"192.0.2.{i}") for i in (1, 2, 3, 4)]
    batch = backend(tmp_path, per_rule=3).plan_sync(state, wanted, (4, 6))
    sets = [opts(s.argv) for s in batch.steps]
    assert {(o.get("-id"), o["-name"], o["-remote-addresses"]) for o in sets} == {
        ("10", "activeresponse-deny-incoming-1", "192.0.2.1,192.0.2.2,192.0.2.3"),
        (None, "activeresponse-deny-incoming-2", "192.0.2.4"),
        ("12", "activeresponse-deny-forwarding-1", "192.0.2.1,192.0.2.2,192.0.2.3"),
        (None, "activeresponse-deny-forwarding-2", "192.0.2.4"),
    }


def test_safeguards_repaired_and_never_duplicated(tmp_path: Path) -> None:
    edited = rule(8, ALLOW_NAME["input"], "input", "allow", ["127.0.0.1"])  # ::1 dropped
    state = PleskState([edited, SAFE[1], rule(20, ALLOW_NAME["forward"], "forward", "allow", [])])
    b = backend(tmp_path)
    assert not b.safeguards_ok(state)
    batch = b.plan_sync(state, [], (4, 6))
    argvs = [s.argv[len(CLI) :] for s in batch.steps]
    assert opts(batch.steps[0].argv) == {
        "-id": "8",
        "-name": ALLOW_NAME["input"],
        "-direction": "input",
        "-action": "allow",
        "-remote-addresses": "127.0.0.1,::1",
    }
    # The second forwarding allow rule (id 20: no address = everyone) goes; id 9 stays.
    assert argvs[1:] == [["--remove-rule", "-id", "20"]]


def test_a_deny_rule_of_ours_without_address_is_removed(tmp_path: Path) -> None:
    """Plesk reads an empty address list as *every* address: never leave one of ours."""
    state = PleskState([*SAFE, deny(10, "input", 1, []), deny(11, "forward", 1, [])])
    batch = backend(tmp_path).plan_sync(state, [], (4, 6))
    assert [s.argv[len(CLI) :] for s in batch.steps] == [
        ["--remove-rule", "-id", "10"],
        ["--remove-rule", "-id", "11"],
    ]
    assert "denied everyone" in batch.actions[0]


def test_sync_of_one_family_keeps_the_other(tmp_path: Path) -> None:
    state = PleskState(
        [
            *SAFE,
            deny(10, "input", 1, ["192.0.2.1", "2001:db8::1"]),
            deny(11, "forward", 1, ["192.0.2.1", "2001:db8::1"]),
        ]
    )
    batch = backend(tmp_path).plan_sync(state, [], (4,))
    assert {opts(s.argv)["-remote-addresses"] for s in batch.steps} == {"2001:db8::1"}


def test_duplicates_and_junk_are_cleaned_and_other_rules_untouched(tmp_path: Path) -> None:
    admin = rule(30, "office", "input", "allow", ["203.0.113.9"])
    state = PleskState(
        [
            *SAFE,
            admin,
            deny(10, "input", 1, ["192.0.2.1", "192.0.2.1", "not-an-ip"]),
            deny(11, "input", 2, ["192.0.2.1", "192.0.2.2"]),
            deny(12, "forward", 1, ["192.0.2.1", "192.0.2.2"]),
        ]
    )
    batch = backend(tmp_path).plan_sync(state, [block("192.0.2.1"), block("192.0.2.2")], (4, 6))
    changed = {opts(s.argv)["-id"]: opts(s.argv)["-remote-addresses"] for s in batch.steps}
    assert changed == {"10": "192.0.2.1", "11": "192.0.2.2"}
    assert "30" not in changed


def test_block_and_unblock_plans_queue_without_reading_plesk(tmp_path: Path) -> None:
    def no_cli() -> list[FirewallRule]:
        raise AssertionError("the hot path must not run the Plesk CLI")

    b = backend(tmp_path)
    state = PleskState(loader=no_cli)
    batch = b.plan(state, add=[block("192.0.2.7")], remove=[ipaddress.ip_network("192.0.2.8")])
    assert [s.argv for s in batch.steps] == [
        [QUEUED, "deny", "192.0.2.7"],
        [QUEUED, "lift", "192.0.2.8"],
    ]
    assert not state.loaded
    assert not b.plan(state)
    b.apply(batch)  # records a request, runs nothing
    assert b.pending().sync_pending


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("192.0.2.7/32", "192.0.2.7"),
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("2001:DB8::7/128", "2001:db8::7"),
        ("bogus", None),
    ],
)
def test_canonical(text: str, expected: str | None) -> None:
    assert canonical(text) == expected


def test_refuses_a_host_without_plesk_or_firewall(tmp_path: Path) -> None:
    from activeresponse.errors import ConfigError

    info = PleskInfo("/")
    with pytest.raises(ConfigError, match="no Plesk"):
        PleskBackend(info, str(tmp_path), list)
    info.present = True
    with pytest.raises(ConfigError, match="Firewall extension is not installed"):
        PleskBackend(info, str(tmp_path), list)
