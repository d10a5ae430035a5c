"""The admin CLI, scenario by scenario, against the real kernel in a private namespace,
with the agent's firewall-drop making blocks the way execd would."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import AgentSandbox

from activeresponse.netns import Namespace

pytestmark = pytest.mark.netns


def make_box(tmp_path: Path, ns: Namespace, **kw: object) -> AgentSandbox:
    return AgentSandbox(tmp_path, ns, "iptables-nft", **kw)  # type: ignore[arg-type]


@pytest.fixture
def box(tmp_path: Path, ns: Namespace) -> Iterator[AgentSandbox]:
    b = make_box(tmp_path, ns)
    yield b
    b.cleanup()


def add(box: AgentSandbox, *addresses: str) -> None:
    for i, address in enumerate(addresses):
        done = box.ossec("add", "-", address, f"17333.{i}", "5712")
        assert done.returncode == 0, done.stderr


def ok(done) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


# -- status and list -------------------------------------------------------------------


def test_status_reports_and_flags_drift(box: AgentSandbox) -> None:
    add(box, "192.0.2.7", "2001:db8::7")
    out = ok(box.cli("status"))
    assert "safeguards:    in place" in out and "2 active" in out
    assert "agrees with the ledger" in out and "IPS" in out
    box.ns.run(["iptables-nft", "-F", "INPUT"])
    done = box.cli("status")
    assert done.returncode == 1
    assert "MISSING" in done.stdout and "DRIFT" in done.stdout
    assert "ATTENTION" in done.stderr
    info = json.loads(box.cli("status", "--json").stdout)
    assert info["safeguards"] is False and info["drift"] and info["active_blocks"] == 2


def test_list_numbers_and_delete_n(box: AgentSandbox) -> None:
    add(box, "192.0.2.7", "192.0.2.8", "192.0.2.9")
    rows = json.loads(ok(box.cli("list", "--json")))["blocks"]
    assert [(r["number"], r["address"], r["enforced"]) for r in rows] == [
        (1, "192.0.2.7", True),
        (2, "192.0.2.8", True),
        (3, "192.0.2.9", True),
    ]
    assert rows[0]["origin"] == "ossec" and rows[0]["rule_id"] == "5712"
    assert 500 < rows[0]["remaining_seconds"] <= 600
    text = ok(box.cli("list"))
    assert "192.0.2.8" in text.splitlines()[2] and text.splitlines()[2].startswith("2 ")
    out = ok(box.cli("delete", "2", "--yes"))
    assert "192.0.2.8" in out
    assert sorted(box.drops(4)) == ["192.0.2.7", "192.0.2.9"]
    rows = json.loads(ok(box.cli("list", "--json")))["blocks"]
    assert [(r["number"], r["address"]) for r in rows] == [(1, "192.0.2.7"), (2, "192.0.2.9")]
    assert box.cli("delete", "7", "--yes").returncode == 2


def test_delete_asks_unless_yes(box: AgentSandbox) -> None:
    add(box, "192.0.2.7")
    done = box.cli("delete", "1")  # stdin is not a terminal: must not guess
    assert done.returncode == 2 and "--yes" in done.stderr
    assert box.drops(4) == ["192.0.2.7"]


def test_list_shows_missing_rules(box: AgentSandbox) -> None:
    add(box, "192.0.2.7")
    box.ns.run(["iptables-nft", "-F", "ACTIVERESPONSE"])
    rows = json.loads(ok(box.cli("list", "--json")))["blocks"]
    assert rows[0]["enforced"] is False and rows[0]["where"] == "MISSING"


# -- the manual's methods 1 and 2 ------------------------------------------------------


def test_delete_by_chain_line_number(box: AgentSandbox) -> None:
    add(box, "192.0.2.7")
    # What an old OSSEC firewall-drop.sh leaves: plain DROPs in INPUT and FORWARD.
    box.ns.run(["iptables-nft", "-A", "INPUT", "-s", "198.51.100.5", "-j", "DROP"])
    hooks = json.loads(ok(box.cli("list", "--json", "--foreign")))["hook_rules"]
    line = next(h for h in hooks if h["chain"] == "INPUT" and "198.51.100.5" in h["rule"])
    assert line["number"] == 3 and not line["activeresponse"]
    ok(box.cli("delete", "--chain", "INPUT", "3", "--yes"))
    assert "198.51.100.5" not in box.save(4)
    # Our safeguard (line 1) is refused with an explanation, and stays.
    done = box.cli("delete", "--chain", "INPUT", "1", "--yes")
    assert done.returncode == 2 and "activeresponse's own" in done.stderr
    assert box.rules("INPUT")[0].startswith("-s 127.0.0.1/32")


def test_delete_by_spec(box: AgentSandbox) -> None:
    add(box, "192.0.2.7", "198.51.100.7", "198.51.100.8")
    for chain in ("INPUT", "FORWARD"):
        box.ns.run(["iptables-nft", "-A", chain, "-s", "203.0.113.5", "-j", "DROP"])
    ok(box.cli("delete", "--spec", "-s 203.0.113.5 -j DROP", "--yes"))
    assert "203.0.113.5" not in box.save(4)
    # Our own block, by the spec an admin reads off `iptables -L`.
    ok(box.cli("delete", "--spec", "-s 192.0.2.7/32 -j DROP", "--yes"))
    assert "192.0.2.7" not in box.drops(4)
    assert [r[0] for r in box.ledger_rows()] == ["198.51.100.7", "198.51.100.8"]
    # Ambiguous: a network covering two separate blocks.
    done = box.cli("delete", "--spec", "-s 198.51.100.0/24 -j DROP", "--yes")
    assert done.returncode == 2 and "ambiguous" in done.stderr
    # No target: iptables -D needs the whole rule.
    done = box.cli("delete", "--spec", "-s 198.51.100.7", "--yes")
    assert done.returncode == 2 and "-j DROP" in done.stderr
    # A command smuggled in.
    assert box.cli("delete", "--spec", "-F INPUT", "--yes").returncode == 2
    assert box.cli("delete", "--spec", "-s 203.0.113.99 -j DROP", "--yes").returncode == 1
    assert sorted(box.drops(4)) == ["198.51.100.7", "198.51.100.8"]


# -- unblock, allow, block --------------------------------------------------------------


def test_unblock_allow_for_keeps_the_agent_off(box: AgentSandbox) -> None:
    add(box, "192.0.2.7")
    out = ok(box.cli("unblock", "192.0.2.7", "--allow-for", "1h"))
    assert "unblocked 192.0.2.7" in out and "allowed 192.0.2.7 for 1h" in out
    assert box.drops(4) == []
    done = box.ossec("add", "-", "192.0.2.7", "17333.9", "5712")
    assert done.returncode == 3 and "allowed by" in done.stderr
    assert box.drops(4) == [] and box.ledger_rows() == []
    assert "refused 192.0.2.7: allowed by" in box.ar_log()[-1]
    listed = json.loads(ok(box.cli("allow", "list", "--json")))
    assert listed[0]["address"] == "192.0.2.7" and listed[0]["expires"]


def test_unblock_of_an_address_inside_a_blocked_network(box: AgentSandbox) -> None:
    ok(box.cli("block", "198.51.100.0/24"))
    done = box.cli("unblock", "198.51.100.9")
    assert done.returncode == 1 and "198.51.100.0/24" in done.stderr
    ok(box.cli("unblock", "198.51.100.0/24"))
    assert box.drops(4) == []


def test_allow_add_remove(box: AgentSandbox) -> None:
    ok(box.cli("allow", "add", "198.51.100.0/28", "--reason", "office"))
    assert box.ossec("add", "-", "198.51.100.3", "1", "2").returncode == 3
    assert box.cli("block", "198.51.100.0/24").returncode == 3  # would block an allowed host
    ok(box.cli("allow", "remove", "198.51.100.0/28"))
    assert box.ossec("add", "-", "198.51.100.3", "1", "2").returncode == 0
    assert box.cli("allow", "remove", "198.51.100.0/28").returncode == 1


def test_admin_block_guard_and_force(box: AgentSandbox) -> None:
    out = ok(box.cli("block", "203.0.113.128/25", "--for", "2h", "--reason", "scanner"))
    assert "blocked 203.0.113.128/25 for 2h" in out
    assert box.drops(4) == ["203.0.113.128/25"]
    assert box.cli("block", "10.20.0.0/16").returncode == 3
    ok(box.cli("block", "10.20.0.0/16", "--force", "--permanent"))
    assert box.cli("block", "127.0.0.1", "--force").returncode == 3  # never, even forced
    assert box.cli("block", "not-an-address").returncode == 2
    rows = {r["address"]: r for r in json.loads(ok(box.cli("list", "--json")))["blocks"]}
    assert rows["10.20.0.0/16"]["expires"] is None and rows["10.20.0.0/16"]["origin"] == "admin"
    assert rows["203.0.113.128/25"]["reason"] == "scanner"


def test_block_refuses_own_ssh_session_and_gateway(box: AgentSandbox) -> None:
    box.ns.ip("link", "add", "gw0", "type", "veth", "peer", "name", "gw1")
    box.ns.ip("addr", "add", "198.51.100.2/24", "dev", "gw0")
    box.ns.ip("link", "set", "gw0", "up")
    box.ns.ip("route", "add", "default", "via", "198.51.100.1")
    done = box.cli("block", "198.51.100.1")
    assert done.returncode == 3 and "default gateway" in done.stderr
    os.environ["SSH_CONNECTION"] = "203.0.113.77 52100 198.51.100.2 22"
    try:
        done = box.cli("block", "203.0.113.77")
    finally:
        del os.environ["SSH_CONNECTION"]
    assert done.returncode == 3 and "SSH session" in done.stderr
    assert box.drops(4) == []
    ok(box.cli("block", "198.51.100.1", "--force"))


def test_flush_keeps_safeguards(box: AgentSandbox) -> None:
    add(box, "192.0.2.7", "2001:db8::7")
    ok(box.cli("block", "203.0.113.128/25"))
    assert box.cli("flush").returncode == 2  # asks
    assert "removed 3 block(s)" in ok(box.cli("flush", "--yes"))
    assert box.drops(4) == [] and box.drops(6) == [] and box.ledger_rows() == []
    assert box.rules("INPUT")[0].startswith("-s 127.0.0.1/32")
    assert box.rules("INPUT", 6)[0].startswith("-s ::1/128")


# -- expire and restore -----------------------------------------------------------------


def test_expire_ends_blocks_whose_delete_never_came(tmp_path: Path, ns: Namespace) -> None:
    box = make_box(tmp_path, ns, timeout=2)
    try:
        add(box, "192.0.2.7")
        assert ok(box.cli("expire")) == ""  # nothing due yet: silent
        time.sleep(2.5)
        out = ok(box.cli("expire"))
        assert "expired 192.0.2.7" in out
        assert box.drops(4) == [] and box.ledger_rows() == []
        assert ok(box.cli("expire")) == ""  # idempotent
    finally:
        box.cleanup()


@pytest.mark.parametrize("wipe", [["-F", "ACTIVERESPONSE"], ["-F", "INPUT"], ["-F"]])
def test_expire_repairs_wiped_rules(box: AgentSandbox, wipe: list[str]) -> None:
    add(box, "192.0.2.7", "192.0.2.8")
    box.ns.run(["iptables-nft", *wipe])
    out = ok(box.cli("expire"))
    assert out.startswith("repaired: ")
    assert sorted(box.drops(4)) == ["192.0.2.7", "192.0.2.8"]
    assert box.rules("INPUT")[:2] == [
        "-s 127.0.0.1/32 -m comment --comment activeresponse -j ACCEPT",
        "-m comment --comment activeresponse -j ACTIVERESPONSE",
    ]
    assert ok(box.cli("expire")) == ""
    assert ok(box.cli("status")).count("in place") == 1


def test_restore_after_reboot(box: AgentSandbox) -> None:
    add(box, "192.0.2.7", "2001:db8::7")
    ok(box.cli("block", "203.0.113.128/25", "--permanent"))
    add(box, "192.0.2.99")
    with sqlite3.connect(
        box.state / "ledger.sqlite3"
    ) as db:  # this one ran out during the "reboot"
        db.execute("UPDATE blocks SET expires = ? WHERE address = '192.0.2.99'", (time.time() - 5,))
    box.ns.run(["nft", "flush", "ruleset"])  # what a reboot leaves
    out = ok(box.cli("restore"))
    assert "expired 192.0.2.99" in out and "3 block(s) in force" in out
    assert sorted(box.drops(4)) == ["192.0.2.7", "203.0.113.128/25"]
    assert box.drops(6) == ["2001:db8::7"]
    assert box.rules("FORWARD", 6)[0].startswith("-s ::1/128")


# -- repeat offenders -------------------------------------------------------------------


def test_repeat_offender_escalates_and_outlives_the_agent_delete(
    tmp_path: Path, ns: Namespace
) -> None:
    box = make_box(tmp_path, ns, config_extra="repeat_multipliers = [1, 4]\n")
    try:
        add(box, "192.0.2.7")
        assert box.ossec("delete", "-", "192.0.2.7", "1", "5712").returncode == 0
        add(box, "192.0.2.7")
        row = box.ledger_rows()[0]
        assert abs(row[2] - time.time() - 2400) < 30  # 600 s x 4
        # The agent's delete after its own 600 s does not lift the escalated block.
        assert box.ossec("delete", "-", "192.0.2.7", "1", "5712").returncode == 0
        assert box.drops(4) == ["192.0.2.7"]
        with sqlite3.connect(box.state / "ledger.sqlite3") as db:
            assert db.execute("SELECT offence FROM blocks WHERE removed IS NULL").fetchone() == (2,)
    finally:
        box.cleanup()


# -- IDS/IPS mode ------------------------------------------------------------------------

SEED_CONF = """<!-- OSSEC example config -->

<ossec_config>
  <client>
    <server-hostname>msm</server-hostname>
  </client>

  <syscheck>
    <frequency>79200</frequency>
    <!-- <directories check_all="yes">/etc</directories> -->
  </syscheck>

  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/messages</location>
  </localfile>

  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/secure</location>
  </localfile>

  <localfile>
    <log_format>full_command</log_format>
    <command>last -n 5</command>
  </localfile>
</ossec_config>
"""


def test_mode_round_trip_is_byte_identical(box: AgentSandbox) -> None:
    conf = box.agent / "etc/ossec.conf"
    conf.write_text(SEED_CONF)
    conf.chmod(0o640)
    assert ok(box.cli("mode")).startswith("IPS")
    ok(box.cli("mode", "ids"))
    text = conf.read_text()
    assert text.endswith(
        "    <active-response>\n        <disabled>yes</disabled>\n    </active-response>\n\n"
        "</ossec_config>\n"
    )
    assert ok(box.cli("mode")).startswith("IDS")
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    ok(box.cli("mode", "ips"))
    assert conf.read_text() == SEED_CONF
    backups = sorted(p.name for p in conf.parent.glob("ossec.conf.activeresponse-*.bak"))
    assert len(backups) == 2
    assert "already IPS" in ok(box.cli("mode", "ips"))


def test_mode_restart_runs_the_agent_control(box: AgentSandbox) -> None:
    control = box.agent / "bin/ossec-control"
    control.parent.mkdir()
    control.write_text(f'#!/bin/sh\necho "$@" >> {box.root}/control.log\n')
    control.chmod(0o755)
    ok(box.cli("mode", "ids", "--restart"))
    assert (box.root / "control.log").read_text() == "restart\n"


# -- install / uninstall ------------------------------------------------------------------


def tree_state(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else None
        out[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, data)
    return out


def test_install_and_uninstall_into_a_staging_root(box: AgentSandbox, tmp_path: Path) -> None:
    root = tmp_path / "stage"
    bindir = root / "var/ossec/active-response/bin"
    bindir.mkdir(parents=True)
    (root / "var/ossec/logs").mkdir()
    (bindir / "firewall-drop.sh").write_text("#!/bin/sh\n# OSSEC's original\n")
    (bindir / "firewall-drop.sh").chmod(0o755)
    before = tree_state(root)

    out = ok(box.cli("install", "--root", str(root), "--agent-root", "/var/ossec"))
    assert "backed up" in out
    for name in ("firewall-drop.sh", "firewall-drop"):
        st = (bindir / name).stat()
        assert stat.S_IMODE(st.st_mode) == 0o750 and st.st_uid == 0
    assert (bindir / "firewall-drop.sh.activeresponse-orig").read_text().endswith("original\n")
    cron = (root / "etc/cron.d/activeresponse").read_text()
    assert " expire " in cron and "@ACTIVERESPONSE@" not in cron
    for unit in (
        "activeresponse-expire.service",
        "activeresponse-expire.timer",
        "activeresponse-restore.service",
    ):
        assert (root / "etc/systemd/system" / unit).is_file()
    assert stat.S_IMODE((root / "etc/activeresponse/config.toml").stat().st_mode) == 0o600

    installed = bindir / "firewall-drop.sh"
    done = box.run_exe(installed, "add", "-", "192.0.2.7", "1.1", "100")
    assert done.returncode == 0, done.stderr
    log = (root / "var/ossec/logs/active-responses.log").read_text()
    assert f" {installed} add - 192.0.2.7 1.1 100" in log
    assert box.drops(4) == ["192.0.2.7"]

    (root / "var/ossec/logs/active-responses.log").unlink()  # the agent's file, not ours
    out = ok(box.cli("uninstall", "--root", str(root), "--agent-root", "/var/ossec"))
    assert "restored" in out
    assert tree_state(root) == before
