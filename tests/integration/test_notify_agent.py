"""Notifications from the real firewall-drop, in a private namespace, to a real SMTP
server on loopback: the manual's wrong-attacker bug, every field of a report, a burst
as one digest, and a background sender that never holds the agent up."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_helpers import toml_value, wazuh_alert
from sandbox import AgentSandbox
from smtp_server import SMTPServer

from activeresponse import config as config_module
from activeresponse.netns import Namespace
from activeresponse.notify import deliver

pytestmark = pytest.mark.netns

OWN = "192.0.2.1"
ATTACKER = "203.0.113.9"
PAM_LINE = (
    "May  3 15:04:18 web1 sshd[811]: pam_unix(sshd:auth): authentication failure; "
    f"logname= uid=0 euid=0 tty=ssh ruser= rhost={ATTACKER}  user=root"
)


def notify_lines(**values: object) -> str:
    settings: dict[str, object] = {
        "notify_enabled": True,
        "notify_background": False,
        "notify_gather_seconds": 0,
        "notify_timezone": "Asia/Tokyo",
        "notify_from": "ar@web1.example.com",
        "notify_to": ["admin@example.com"],
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_security": "none",
    }
    settings.update(values)
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())


@pytest.fixture
def server() -> Iterator[SMTPServer]:
    srv = SMTPServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def box(tmp_path: Path, server: SMTPServer) -> Iterator[AgentSandbox]:
    with Namespace.create("ar-notify") as ns:
        sandbox = AgentSandbox(
            tmp_path, ns, "iptables-nft", config_extra=notify_lines(notify_smtp_port=server.port)
        )
        # The monitored host's own address, as in the manual's case.
        ns.ip("link", "add", "own0", "type", "veth", "peer", "name", "own0p")
        ns.ip("link", "set", "own0", "up")
        ns.ip("link", "set", "own0p", "up")
        ns.ip("addr", "add", f"{OWN}/24", "dev", "own0")
        try:
            yield sandbox
        finally:
            sandbox.cleanup()


def message(command: str, alert: dict) -> str:
    return json.dumps(
        {
            "version": 1,
            "origin": {"name": "", "module": "wazuh-execd"},
            "command": command,
            "parameters": {
                "extra_args": [],
                "alert": alert,
                "program": "active-response/bin/firewall-drop",
            },
        }
    )


def send_all(box: AgentSandbox, **kw: object):
    report = deliver(config_module.load(str(box.config)), **kw)
    assert report.ok, report.as_dict()
    return report


@pytest.mark.parametrize("srcip", [OWN, None], ids=["srcip-is-own-address", "no-srcip"])
def test_messages_log_alert_blocks_and_reports_the_real_attacker(
    box: AgentSandbox, server: SMTPServer, srcip: str | None
) -> None:
    data = {"srcuser": "", "dstuser": "root"}
    if srcip:
        data["srcip"] = srcip
    alert = wazuh_alert(
        rule={
            "id": "5503",
            "level": 5,
            "description": "PAM: User login failed.",
            "groups": ["pam", "syslog", "authentication_failed"],
        },
        location="/var/log/messages",
        full_log=PAM_LINE,
        data=data,
    )
    code, out, err = box.wazuh(message("add", alert), answer="continue")
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["parameters"]["keys"] == [ATTACKER]
    assert box.drops(4) == [ATTACKER]
    assert [r[0] for r in box.ledger_rows()] == [ATTACKER]
    assert any(f"attacker {ATTACKER} taken from the log line (rhost=)" in ln for ln in box.ar_log())

    send_all(box)
    (mail,) = server.received
    text = mail.text
    assert f"Attacker:                   {ATTACKER}" in text
    assert ATTACKER in mail.message["Subject"] and OWN not in mail.message["Subject"]
    assert f"Attacker:                   {OWN}" not in text
    reason = f"the agent's srcip {OWN} is this host's own address" if srcip else "had no srcip"
    assert "the log line (rhost=)" in text and reason in text
    assert "Victim host:" in text and OWN in text.split("Victim host:")[1].splitlines()[0]
    assert "Log file:                   /var/log/messages" in text
    assert f"\n  activeresponse --config {box.config} unblock {ATTACKER}\n" in text

    # The agent's delete (same alert) finds the same address and lifts the block.
    code, out, err = box.wazuh(message("delete", alert))
    assert code == 0, err
    assert box.drops(4) == [] and box.ledger_rows() == []


def test_own_address_without_a_usable_log_line_is_still_refused(box: AgentSandbox) -> None:
    before = box.snapshot()
    alert = wazuh_alert(
        full_log="authentication failure; rhost=web1.example.com user=root", data={"srcip": OWN}
    )
    code, _out, err = box.wazuh(message("add", alert), answer="continue")
    assert code == 3 and "own address" in err
    assert box.snapshot() == before


def test_one_block_one_message_with_every_field(box: AgentSandbox, server: SMTPServer) -> None:
    code, _out, err = box.wazuh(message("add", wazuh_alert()), answer="continue")
    assert code == 0, err
    send_all(box)
    (mail,) = server.received
    assert mail.rcpt_tos == ["admin@example.com"] and mail.mail_from == "ar@web1.example.com"
    subject = mail.message["Subject"]
    assert subject.startswith("[activeresponse] ") and subject.endswith(
        f"blocked {ATTACKER} (rule 5712)"
    )
    text = mail.text
    expires = box.ledger_rows()[0][2]
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    until_utc = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    until_tokyo = datetime.fromtimestamp(expires, ZoneInfo("Asia/Tokyo")).strftime(
        "%Y-%m-%d %H:%M:%S JST (UTC+09:00)"
    )
    for needle in (
        f"activeresponse blocked {ATTACKER} on ",
        f"Attacker:                   {ATTACKER}",
        "Address from:               the agent's alert (data.srcip)",
        "Victim host:                ",
        "Agent:                      web1 192.0.2.1",
        "Time (UTC):                 20",
        "Time (Asia/Tokyo):          20",
        f"all traffic from {ATTACKER} is dropped",
        f"Blocked until (UTC):        {until_utc}",
        f"Blocked until (Asia/Tokyo): {until_tokyo}",
        "Repeat:                     1st hit of this block; 1 block of this address on record",
        "Rule:                       5712 (level 10): sshd: brute force trying to get access",
        "Groups:                     syslog, sshd, authentication_failures",
        "Log file:                   /var/log/secure",
        "User name tried:            root",
        "Alert id:                   1714748658.12345",
        "Failed password for root from 203.0.113.9 port 52814 ssh2",
        f"To undo:\n  activeresponse --config {box.config} unblock {ATTACKER}",
    ):
        assert needle in text, needle
    assert OWN in text.split("Victim host:")[1].splitlines()[0]

    # A repeat: the second report counts the hit.
    code, _out, err = box.wazuh(message("add", wazuh_alert()), answer="continue")
    assert code == 0, err
    send_all(box, force=True)
    assert "hit 2 of this block" in server.received[1].text


def test_burst_of_200_blocks_is_one_digest(box: AgentSandbox, server: SMTPServer) -> None:
    addresses = [f"198.51.100.{i}" for i in range(1, 201)]
    for start in range(0, 200, 25):  # 25 agents at a time, as execd would run them
        procs = [
            box.ossec_popen("add", "-", a, f"1.{i}", "5712", "/var/log/secure")
            for i, a in enumerate(addresses[start : start + 25], start)
        ]
        assert all(p.wait(timeout=120) == 0 for p in procs), [p.communicate() for p in procs]
    assert sorted(box.drops(4)) == sorted(addresses)
    report = send_all(box)
    assert report.sent == [("email", "digest", 200)]
    (mail,) = server.received
    assert "200 events" in mail.message["Subject"]
    text = mail.text
    assert all(f"  {a}  blocked" in text for a in addresses)
    assert f"activeresponse --config {box.config} unblock 198.51.100.200" in text
    # Nothing left over, nothing sent twice.
    assert send_all(box, force=True).sent == []


def test_background_sender_does_not_hold_up_the_agent(tmp_path: Path) -> None:
    out = tmp_path / "delivered.json"
    lines = notify_lines(
        notify_smtp_host="",
        notify_background=True,
        notify_command=["sh", "-c", f"sleep 3; cat > {out}.tmp && mv {out}.tmp {out}"],
    )
    with Namespace.create("ar-notify") as ns:
        box = AgentSandbox(tmp_path, ns, "iptables-nft", config_extra=lines)
        try:
            start = time.monotonic()
            code, _out, err = box.wazuh(message("add", wazuh_alert()), answer="continue")
            elapsed = time.monotonic() - start
            assert code == 0, err
            # communicate() returned: our stdout/stderr were closed at exit, not held
            # open by the sender, which is still sleeping.
            assert elapsed < 2.5 and not out.exists()
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            payload = json.loads(out.read_text())
            assert payload["events"][0]["address"] == ATTACKER
            assert payload["type"] == "event"
        finally:
            box.cleanup()


def test_agent_path_imports_stay_lean_with_notifications_on(box: AgentSandbox) -> None:
    """OSSEC form with notifications on: no re, json, email, smtplib or ssl import (the
    spool write is sqlite3 only; the sender is another process)."""
    # Once to fill the config cache (a miss parses TOML, which imports re).
    assert box.ossec("add", "-", "198.51.100.1", "1.0", "5712").returncode == 0
    launcher = box.ossec_exe.read_text().splitlines()
    python = launcher[0][2:].split()[0]
    done = subprocess.run(
        box.ns.exec_argv(
            [
                python,
                "-IS",
                "-X",
                "importtime",
                str(box.ossec_exe),
                "add",
                "-",
                ATTACKER,
                "1.1",
                "5712",
                "/var/log/secure",
            ]
        ),
        env=box.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "activeresponse.notify.spool" in imported  # the notification was spooled
    heavy = {"re", "json", "email", "smtplib", "ssl", "logging", "zoneinfo", "subprocess"}
    assert not imported & heavy, sorted(imported & heavy)
    from activeresponse.notify.spool import Spool

    cfg = config_module.load(str(box.config))
    with Spool(cfg.notify_spool_path) as spool:
        assert spool.counts()["email"]["pending"] == 2


def test_expiry_is_reported_when_asked(tmp_path: Path, server: SMTPServer) -> None:
    lines = notify_lines(notify_smtp_port=server.port, notify_events=["block", "expire"])
    with Namespace.create("ar-notify") as ns:
        box = AgentSandbox(tmp_path, ns, "iptables-nft", config_extra=lines)
        try:
            assert box.ossec("add", "-", "198.51.100.7", "1.1", "5712").returncode == 0
            assert box.ossec("delete", "-", "198.51.100.7", "1.1", "5712").returncode == 0
            report = send_all(box)
            assert report.sent == [("email", "digest", 2)]
            text = server.received[0].text
            assert "198.51.100.7  blocked" in text and "198.51.100.7  expired" in text
            assert "blocked 1, extended 0, unblocked 0, expired 1" in text
        finally:
            box.cleanup()


def test_expire_sweep_reports_and_sends(tmp_path: Path, server: SMTPServer) -> None:
    """The periodic `activeresponse expire` spools the blocks it ends and tries to send
    what is due. It runs inside the namespace, whose loopback has no mail server: the
    send fails, the sweep does not, and nothing is lost; sent afterwards from outside."""
    import sys

    lines = notify_lines(notify_smtp_port=server.port, notify_events=["block", "expire"])
    with Namespace.create("ar-notify") as ns:
        box = AgentSandbox(tmp_path, ns, "iptables-nft", config_extra=lines, timeout=1)
        try:
            assert box.ossec("add", "-", "198.51.100.8", "1.1", "5712").returncode == 0
            time.sleep(1.5)
            cli = str(Path(sys.executable).parent / "activeresponse")
            done = subprocess.run(
                ns.exec_argv([cli, "--config", str(box.config), "expire"]),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            assert "expired 198.51.100.8" in done.stdout
            assert "notification via email failed (kept, retried later)" in done.stdout
            assert box.drops(4) == [] and server.received == []
            assert send_all(box, force=True).sent == [("email", "digest", 2)]
            text = server.received[0].text
            assert "198.51.100.8  blocked" in text and "198.51.100.8  expired" in text
        finally:
            box.cleanup()
