"""The Plesk Firewall CLI wrapper: argv, --list-json parsing, errors. Runs the simulator
for the verbs that do not touch the kernel (no namespace needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from plesk_sim import make_tree

from activeresponse.errors import CommandError, FirewallError
from plesk.firewall_cli import (
    AUTO_CONFIRM,
    ApplyBusy,
    FirewallCLI,
    PleskFirewallError,
    _is_busy,
    parse_list_json,
)


def test_argv_builders() -> None:
    cli = FirewallCLI(["/usr/sbin/plesk", "ext", "firewall"])
    assert cli.set_rule_argv("n", "input", "deny", ["192.0.2.1", "2001:db8::/48"], "7") == [
        "/usr/sbin/plesk",
        "ext",
        "firewall",
        "--set-rule",
        "-id",
        "7",
        "-name",
        "n",
        "-direction",
        "input",
        "-action",
        "deny",
        "-remote-addresses",
        "192.0.2.1,2001:db8::/48",
    ]
    assert cli.remove_rule_argv("7")[-3:] == ["--remove-rule", "-id", "7"]
    assert cli.apply_argv()[-2:] == ["--apply", AUTO_CONFIRM]
    assert cli.apply_argv(auto_confirm=False)[-1] == "--apply"
    with pytest.raises(ValueError):
        cli.set_rule_argv("n", "sideways", "deny", [])
    with pytest.raises(ValueError):
        cli.set_rule_argv("it's", "input", "deny", [])


def test_list_json_shapes() -> None:
    rules = parse_list_json(
        '[{"id": 3, "class": "custom", "name": "a", "direction": "input", "action": "deny",'
        ' "ports": [], "from": ["192.0.2.1", "198.51.100.0/24"]},'
        ' {"id": "4", "name": "b", "direction": "forward", "action": "allow",'
        ' "ports": "22/tcp, 80/tcp", "from": "192.0.2.1, 192.0.2.2"},'
        ' {"id": 5, "name": "c", "direction": "input", "action": "allow", "from": null}]'
    )
    assert [(r.id, r.remote, r.ports) for r in rules] == [
        ("3", ["192.0.2.1", "198.51.100.0/24"], []),
        ("4", ["192.0.2.1", "192.0.2.2"], ["22/tcp", "80/tcp"]),
        ("5", [], []),
    ]
    assert parse_list_json('{"rules": []}') == []
    for bad in ("not json", '{"x": 1}', '[{"name": "no id"}]', '[{"id": 1, "from": 7}]'):
        with pytest.raises(PleskFirewallError):
            parse_list_json(bad)


def test_errors_carry_the_cli_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = make_tree(tmp_path)
    cli = FirewallCLI(fake.cli)
    cli.set_rule("r1", "input", "deny", ["192.0.2.1"])
    rules = {r.name: r for r in cli.list_rules()}
    assert rules["r1"].remote == ["192.0.2.1"] and rules["r1"].action == "deny"
    cli.set_rule("r1", "input", "deny", ["192.0.2.2"], rule_id=rules["r1"].id)
    assert {r.name: r for r in cli.list_rules()}["r1"].remote == ["192.0.2.2"]
    with pytest.raises(PleskFirewallError, match=r"--remove-rule failed: .*ID 999 does not exist"):
        cli.remove_rule("999")
    with pytest.raises(PleskFirewallError, match="Invalid IP address"):
        cli.set_rule("r2", "input", "deny", ["192.0.2.300"])
    # A CommandError, so operations.apply_change re-reads and re-plans once.
    assert issubclass(PleskFirewallError, CommandError)
    assert issubclass(PleskFirewallError, FirewallError)
    cli.remove_rule(rules["r1"].id)
    assert "r1" not in {r.name for r in cli.list_rules()}
    missing = FirewallCLI([str(tmp_path / "nope")])
    with pytest.raises(PleskFirewallError, match="not found"):
        missing.list_rules()


def test_old_settings_program_has_the_same_verbs(tmp_path: Path) -> None:
    fake = make_tree(tmp_path, "11.0", "rhel")
    cli = FirewallCLI(fake.cli)
    cli.set_rule("r1", "forward", "deny", ["2001:db8::1"])
    assert [r.remote for r in cli.list_rules() if r.name == "r1"] == [["2001:db8::1"]]


def test_busy_apply_is_recognised() -> None:
    message = "An error occurred: Another firewall configuration apply is already in progress"
    assert _is_busy("--apply", message)
    assert not _is_busy("--set-rule", message)
    assert not _is_busy("--apply", "An error occurred: simulated failure")
    assert issubclass(ApplyBusy, PleskFirewallError)
