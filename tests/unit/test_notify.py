"""Notifications without a mail server: the spool, when things are due, retries, the
command channel, rendering in both languages, and the settings' checks."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from notify_helpers import load, spool_events, wazuh_alert, write_config

from activeresponse import config as config_module
from activeresponse.errors import ConfigError
from activeresponse.notify import deliver, event
from activeresponse.notify.render import render
from activeresponse.notify.settings import Settings, read_password
from activeresponse.notify.spool import Spool


def command_config(tmp_path: Path, **values: object):
    out = tmp_path / "out.jsonl"
    # Each message: one JSON object on stdin, appended as one line.
    argv = ["sh", "-c", f"tr -d '\\n' >> {out}; echo >> {out}"]
    return load(write_config(tmp_path, notify_command=argv, **values)), out


def messages(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line]


def test_spool_is_private_and_round_trips(tmp_path: Path) -> None:
    cfg, out = command_config(tmp_path)
    spool_events(cfg, ["203.0.113.9"], channels=("command",))
    for name in os.listdir(cfg.state_dir):
        if name.startswith("notify.sqlite3"):
            mode = stat.S_IMODE(os.stat(os.path.join(cfg.state_dir, name)).st_mode)
            assert mode == 0o600, (name, oct(mode))
    report = deliver(cfg)
    assert report.sent == [("command", "event", 1)] and report.ok
    (msg,) = messages(out)
    assert msg["type"] == "event" and msg["events"][0]["address"] == "203.0.113.9"
    assert msg["events"][0]["rule_id"] == "5712"
    assert msg["events"][0]["groups"] == ["syslog", "sshd", "authentication_failures"]
    assert "activeresponse --config" in msg["events"][0]["undo"]
    assert msg["events"][0]["undo"].endswith("unblock 203.0.113.9")
    assert deliver(cfg).sent == []  # sent once, never again


def test_gather_then_one_digest_per_interval(tmp_path: Path) -> None:
    cfg, out = command_config(tmp_path, notify_gather_seconds=10, notify_digest_seconds=300)
    t0 = time.time()
    spool_events(cfg, ["203.0.113.1", "203.0.113.2", "203.0.113.3"], now=t0, channels=("command",))
    report = deliver(cfg, now=t0 + 1)
    assert report.sent == [] and report.waiting["command"] == pytest.approx(t0 + 10)
    report = deliver(cfg, now=t0 + 11)
    assert report.sent == [("command", "digest", 3)]
    spool_events(cfg, ["203.0.113.4", "203.0.113.5"], now=t0 + 20, channels=("command",))
    report = deliver(cfg, now=t0 + 30)
    assert report.sent == [] and report.waiting["command"] == pytest.approx(t0 + 311)
    assert deliver(cfg, now=t0 + 312).sent == [("command", "digest", 2)]
    first, second = messages(out)
    assert [e["address"] for e in first["events"]] == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    assert [e["address"] for e in second["events"]] == ["203.0.113.4", "203.0.113.5"]
    assert "3 events" in first["subject"] and "203.0.113.2" in first["text"]


def test_force_ignores_the_waits(tmp_path: Path) -> None:
    cfg, _out = command_config(tmp_path, notify_gather_seconds=600)
    spool_events(cfg, ["203.0.113.1"], channels=("command",))
    assert deliver(cfg).sent == []
    assert deliver(cfg, force=True).sent == [("command", "event", 1)]


def test_failures_back_off_and_lose_nothing(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("")
    out = tmp_path / "out.jsonl"
    argv = ["sh", "-c", f"test ! -e {flag} && cat >> {out} && echo >> {out}"]
    cfg = load(
        write_config(
            tmp_path, notify_command=argv, notify_retry_seconds=60, notify_retry_max_seconds=100
        )
    )
    t0 = time.time()
    spool_events(cfg, ["203.0.113.1", "203.0.113.2"], now=t0, channels=("command",))
    report = deliver(cfg, now=t0)
    assert report.sent == [] and len(report.failed) == 1
    assert report.failed[0][2] == pytest.approx(t0 + 60)
    assert deliver(cfg, now=t0 + 30).sent == []  # waiting for the retry
    report = deliver(cfg, now=t0 + 61)
    assert report.failed[0][2] == pytest.approx(t0 + 61 + 100)  # doubled, capped at 100
    with Spool(cfg.notify_spool_path) as spool:
        assert spool.counts()["command"] == {"pending": 2, "sent": 0}
        assert spool.channel("command").failures == 2
    flag.unlink()
    spool_events(cfg, ["203.0.113.3"], now=t0 + 100, channels=("command",))
    report = deliver(cfg, now=t0 + 162)
    assert report.sent == [("command", "digest", 3)] and report.ok
    (msg,) = messages(out)
    assert [e["address"] for e in msg["events"]] == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    with Spool(cfg.notify_spool_path) as spool:
        assert spool.channel("command").failures == 0


def test_a_second_sender_does_not_send_twice(tmp_path: Path) -> None:
    from activeresponse.notify.deliver import SenderLock

    cfg, out = command_config(tmp_path)
    spool_events(cfg, ["203.0.113.1"], channels=("command",))
    lock = SenderLock(cfg)
    assert lock.acquire()
    try:
        assert deliver(cfg).busy
    finally:
        lock.release()
    assert deliver(cfg).sent == [("command", "event", 1)]
    assert len(messages(out)) == 1


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(load(write_config(tmp_path, notify_command=["true"], **values)))


def rendered(tmp_path: Path, alert: dict, language: str = "en", **values: object):
    settings = settings_for(
        tmp_path, notify_language=language, notify_timezone="Asia/Tokyo", **values
    )
    t = 1714748658.0  # 2024-05-03 15:04:18 UTC
    from notify_helpers import block

    ev = event.build(
        "block",
        block("203.0.113.9", now=t, hits=3),
        now=t,
        new=False,
        notice={
            "alert": alert,
            "source": "log",
            "source_pattern": "rhost=",
            "source_reason": "own",
            "agent_srcip": "192.0.2.1",
        },
        history=(4, t - 86400),
        host={"host": "web1", "host_addresses": ["192.0.2.1", "2001:db8:1::1"]},
        config_path="/etc/activeresponse/config.toml",
    )
    return render([ev], settings, now=t)


def test_render_english_has_every_field(tmp_path: Path) -> None:
    msg = rendered(tmp_path, wazuh_alert())
    text = msg.text
    for needle in (
        "Attacker:",
        "203.0.113.9",
        "the log line (rhost=); the agent's srcip 192.0.2.1 is this host's own address",
        "Victim host:",
        "web1 (192.0.2.1, 2001:db8:1::1)",
        "Time (UTC):                 2024-05-03 15:04:18 UTC",
        "Time (Asia/Tokyo):          2024-05-04 00:04:18 JST (UTC+09:00)",
        "Blocked until (UTC):        2024-05-03 15:14:18 UTC",
        "Blocked until (Asia/Tokyo): 2024-05-04 00:14:18 JST (UTC+09:00)",
        "hit 3 of this block; 4 blocks of this address on record since 2024-05-02 15:04:18 UTC",
        "the existing block of 203.0.113.9 was extended",
        "5712 (level 10): sshd: brute force trying to get access to the system.",
        "Groups:",
        "syslog, sshd, authentication_failures",
        "Log file:",
        "/var/log/secure",
        "User name tried:",
        "root",
        "1714748658.12345",
        "Failed password for root from 203.0.113.9 port 52814 ssh2",
        "Agent:",
        "web1 192.0.2.1",
    ):
        assert needle in text, needle
    # The default config path needs no --config in the undo command.
    assert "\n  activeresponse unblock 203.0.113.9\n" in text
    assert msg.subject.startswith("[activeresponse] ")
    assert msg.subject.endswith(": block of 203.0.113.9 extended (rule 5712)")


def test_render_japanese(tmp_path: Path) -> None:
    msg = rendered(tmp_path, wazuh_alert(), "ja")
    for needle in (
        "攻撃元: 203.0.113.9",
        "ログ行の rhost=（エージェントの srcip 192.0.2.1 はこのホスト自身",
        "攻撃を受けたホスト: web1 (192.0.2.1, 2001:db8:1::1)",
        "日時 (UTC): 2024-05-03 15:04:18 UTC",
        "日時 (Asia/Tokyo): 2024-05-04 00:04:18 JST (UTC+09:00)",
        "遮断期限 (Asia/Tokyo): 2024-05-04 00:14:18 JST (UTC+09:00)",
        "検出ルール: 5712 (レベル 10)",
        "試行されたユーザー名: root",
        "解除方法:",
        "activeresponse unblock 203.0.113.9",
    ):
        assert needle in msg.text, needle
    assert "の遮断を延長" in msg.subject


def test_hostile_alert_text_is_escaped_and_cut(tmp_path: Path) -> None:
    hostile = "x\r\nBcc: victim@example.com\r\n\r\nSubject: pwned\n" + "A" * 100_000
    alert = wazuh_alert(
        full_log=hostile,
        location="/var/log/secure\nTo: evil@example.com",
        rule={"id": "57\n12", "description": "d\r\nCc: e@example.com", "level": 10},
        data={"srcip": "203.0.113.9", "dstuser": "root\nBcc: x@example.com"},
    )
    msg = rendered(tmp_path, alert)
    assert "\r" not in msg.text and "\nBcc:" not in msg.text and "\nTo:" not in msg.text
    assert "\nSubject:" not in msg.text and "\nCc:" not in msg.text
    assert "x\\x0d\\x0aBcc: victim@example.com" in msg.text
    assert len(msg.text) < 6000  # the log line is cut, and says so
    assert "characters in all" in msg.text
    assert "\n" not in msg.subject and msg.subject.endswith("(rule 5712)")


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"notify_to": ["a@example.com, b@example.com"]}, "not a plain e-mail address"),
        ({"notify_to": ["a@example.com\nBcc: b@example.com"]}, "not a plain e-mail address"),
        ({"notify_to": ["Admin <a@example.com>"]}, "not a plain e-mail address"),
        ({"notify_cc": ["nobody"]}, "not a plain e-mail address"),
        ({"notify_from": "a@b@c"}, "not a plain e-mail address"),
        ({"notify_timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"notify_smtp_user": "u"}, "notify_smtp_password_file is not"),
        (
            {
                "notify_smtp_user": "u",
                "notify_smtp_password_file": "/x",
                "notify_smtp_security": "none",
            },
            "unencrypted",
        ),
    ],
)
def test_bad_settings(tmp_path: Path, values: dict, problem: str) -> None:
    base = {"notify_smtp_host": "mail.example.com", "notify_to": ["admin@example.com"]}
    base.update(values)
    with pytest.raises(ConfigError, match=problem):
        Settings(load(write_config(tmp_path, **base)))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('notify_events = ["block", "explode"]\n', "unknown event"),
        ('notify_language = "fr"\n', "one of"),
        ('notify_smtp_security = "ssl"\n', "one of"),
        ("notify_smtp_port = 70000\n", "0..65535"),
        ("notify_enabled = 1\n", "must be bool"),
        ("notify_digest_seconds = -1\n", "negative"),
        ("notify_to = [1]\n", "list of non-empty strings"),
    ],
)
def test_bad_notify_config(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=problem):
        config_module.load(str(path))


def test_password_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_password(str(path))
    path.chmod(0o600)
    assert read_password(str(path)) == "s3cret"


def test_record_starts_a_sender_only_for_what_falls_due_soon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notify_helpers import block

    import activeresponse.notify as notify
    from activeresponse.operations import Runtime

    kicks: list[float] = []
    monkeypatch.setattr(notify, "kick", lambda config: kicks.append(time.time()))
    cfg = load(
        write_config(
            tmp_path, notify_command=["true"], notify_background=True, notify_digest_seconds=300
        )
    )
    rt = Runtime(cfg)
    rt._interfaces = (set(), set())  # no netlink needed here
    try:
        t0 = time.time()
        notify.record(rt, "block", [block("203.0.113.1", now=t0)], now=t0)
        assert len(kicks) == 1  # quiet before: due now
        assert deliver(cfg, now=t0).sent == [("command", "event", 1)]
        notify.record(rt, "block", [block("203.0.113.2", now=t0 + 1)], now=t0 + 1)
        assert len(kicks) == 1  # waits for the digest interval: the periodic run's job
        notify.record(rt, "block", [block("203.0.113.3", now=t0 + 298)], now=t0 + 298)
        assert len(kicks) == 2  # due within the sender's linger: started
        with Spool(cfg.notify_spool_path) as spool:
            assert spool.counts()["command"] == {"pending": 2, "sent": 1}
    finally:
        rt.close()


def test_record_never_raises(tmp_path: Path) -> None:
    from notify_helpers import block

    import activeresponse.notify as notify
    from activeresponse.operations import Runtime

    cfg = load(write_config(tmp_path, notify_command=["true"]))
    Path(cfg.state_dir).mkdir(parents=True)
    Path(cfg.notify_spool_path).write_text("not a database")
    rt = Runtime(cfg)
    rt._interfaces = (set(), set())
    try:
        notify.record(rt, "block", [block("203.0.113.1")])  # logged, not raised
    finally:
        rt.close()
