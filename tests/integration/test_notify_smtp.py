"""E-mail delivery against a real SMTP server on loopback (aiosmtpd): TLS, login, an
outage, and hostile alert text. Events are spooled as firewall-drop spools them; the
agent-level tests (real firewall-drop in a namespace) are in test_notify_agent.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from notify_helpers import load, spool_events, wazuh_alert, write_config
from smtp_server import SMTPServer, free_port, self_signed

from activeresponse.notify import deliver
from activeresponse.notify.spool import Spool

TO = ["admin@example.com", "ops@example.net"]
CC = ["audit@example.org"]
SENDER = "ar@web1.example.com"


@pytest.fixture
def server():
    srv = SMTPServer().start()
    yield srv
    srv.stop()


def mail_config(tmp_path: Path, port: int, **values: object):
    settings = dict(
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=port,
        notify_smtp_security="none",
        notify_from=SENDER,
        notify_to=TO,
        notify_cc=CC,
        notify_timezone="Asia/Tokyo",
    )
    settings.update(values)
    return load(write_config(tmp_path, **settings))


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "activeresponse"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_starttls_with_login(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    srv = SMTPServer(mode="starttls", cert=cert, login=("alerts", "s3cret pass")).start()
    try:
        password = tmp_path / "smtp-password"
        password.write_text("s3cret pass\n")
        password.chmod(0o600)
        cfg = mail_config(
            tmp_path,
            srv.port,
            notify_smtp_host="localhost",
            notify_smtp_security="starttls",
            notify_smtp_ca_file=str(cert[0]),
            notify_smtp_user="alerts",
            notify_smtp_password_file=str(password),
        )
        spool_events(cfg, ["203.0.113.9"])
        report = deliver(cfg)
        assert report.ok and report.sent == [("email", "event", 1)], report.as_dict()
        assert srv.auths == ["alerts"] and len(srv.received) == 1
        assert "203.0.113.9" in srv.received[0].message["Subject"]
    finally:
        srv.stop()


def test_starttls_refused_by_server_never_falls_back_to_clear_text(
    tmp_path: Path, server: SMTPServer
) -> None:
    """A server that offers no STARTTLS: the send fails (and is retried), never in clear."""
    cfg = mail_config(tmp_path, server.port, notify_smtp_security="starttls")
    spool_events(cfg, ["203.0.113.9"])
    report = deliver(cfg)
    assert report.sent == [] and "STARTTLS" in report.failed[0][1]
    assert server.received == []


def test_implicit_tls(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    srv = SMTPServer(mode="tls", cert=cert).start()
    try:
        cfg = mail_config(
            tmp_path,
            srv.port,
            notify_smtp_host="localhost",
            notify_smtp_security="tls",
            notify_smtp_ca_file=str(cert[0]),
        )
        spool_events(cfg, ["203.0.113.9"])
        assert deliver(cfg).sent == [("email", "event", 1)]
        assert len(srv.received) == 1
        # Without the CA the certificate is not trusted: a failure, not a silent send.
        other = tmp_path / "other"
        other.mkdir()
        cfg2 = mail_config(
            other,
            srv.port,
            notify_smtp_host="localhost",
            notify_smtp_security="tls",
        )
        spool_events(cfg2, ["203.0.113.10"])
        report = deliver(cfg2)
        assert report.sent == [] and "CERTIFICATE_VERIFY_FAILED" in report.failed[0][1]
    finally:
        srv.stop()


def test_smtp_down_nothing_lost(tmp_path: Path) -> None:
    port = free_port()  # nobody listens here yet
    cfg = mail_config(tmp_path, port, notify_retry_seconds=30)
    t0 = time.time()
    spool_events(cfg, ["203.0.113.1", "203.0.113.2"], now=t0)
    report = deliver(cfg, now=t0)
    assert report.sent == [] and len(report.failed) == 1
    assert "ConnectionRefusedError" in report.failed[0][1]
    next_try = report.failed[0][2]
    assert next_try == pytest.approx(t0 + 30)
    status = cli(cfg_path := Path(cfg.source), "notify", "status")
    assert status.returncode == 0, status.stderr
    assert "email: 2 pending, 0 sent" in status.stdout
    assert "failed 1 time(s) in a row; next retry" in status.stdout
    assert "ConnectionRefusedError" in status.stdout
    # More blocks while the server is down: kept too.
    spool_events(cfg, ["203.0.113.3"], now=t0 + 5)
    srv = SMTPServer(port=port).start()
    try:
        assert deliver(cfg, now=t0 + 10).sent == []  # still waiting for the retry time
        report = deliver(cfg, now=next_try + 1)
        assert report.ok and report.sent == [("email", "digest", 3)]
        (mail,) = srv.received
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            assert address in mail.text
        status = cli(cfg_path, "notify", "status", "--json")
        import json

        info = json.loads(status.stdout)
        assert info["per_channel"]["email"]["pending"] == 0
        assert info["per_channel"]["email"]["sent"] == 3
        assert info["per_channel"]["email"]["failures"] == 0
    finally:
        srv.stop()


def test_notify_send_and_test_commands(tmp_path: Path, server: SMTPServer) -> None:
    cfg = mail_config(tmp_path, server.port, notify_gather_seconds=3600)
    done = cli(Path(cfg.source), "notify", "test")
    assert done.returncode == 0, done.stderr
    assert "email: sent" in done.stdout
    (sample,) = server.received
    assert sample.message["Subject"].startswith("[activeresponse] ")
    assert "TEST" in sample.message["Subject"] and "nothing was blocked" in sample.text
    assert sorted(sample.rcpt_tos) == sorted(TO + CC)
    spool_events(cfg, ["203.0.113.9"])
    done = cli(Path(cfg.source), "notify", "send")
    assert done.returncode == 0 and "wait until" in done.stdout  # the gather window
    done = cli(Path(cfg.source), "notify", "send", "--force")
    assert done.returncode == 0 and "email: sent 1 event(s)" in done.stdout, done
    assert len(server.received) == 2


def test_notify_test_reports_a_failure(tmp_path: Path) -> None:
    cfg = mail_config(tmp_path, free_port())
    done = cli(Path(cfg.source), "notify", "test")
    assert done.returncode == 1 and "email: FAILED" in done.stdout


HOSTILE = [
    "x\r\nBcc: victim@example.com\r\nSubject: pwned\r\n\r\nfake body",
    "line\nTo: evil@example.com\nX-Injected: 1",
    "\r\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<evil@example.com>\r\nDATA\r\n",
    "=?utf-8?b?QmNjOiBldmlsQGV4YW1wbGUuY29t?= \x00\x1b[31m\u202e",
    "A" * 200_000,
    "From: evil@example.com\nReply-To: evil@example.com",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_alert_text_cannot_change_recipients_or_headers(
    tmp_path: Path, server: SMTPServer, hostile: str
) -> None:
    cfg = mail_config(tmp_path, server.port)
    alert = wazuh_alert(
        full_log=hostile,
        location=hostile[:1000],
        rule={
            "id": hostile[:50],
            "description": hostile[:1000],
            "level": 10,
            "groups": [hostile[:100]],
        },
        data={"srcip": "203.0.113.9", "dstuser": hostile[:300], "srcuser": hostile[:300]},
        agent={"name": hostile[:200], "ip": hostile[:50]},
    )
    spool_events(cfg, ["203.0.113.9"], alert=alert)
    spool_events(cfg, ["203.0.113.10"], alert=alert)  # and as a digest
    report = deliver(cfg, force=True)
    assert report.ok, report.as_dict()
    (mail,) = server.received
    assert mail.mail_from == SENDER
    assert sorted(mail.rcpt_tos) == sorted(TO + CC)
    msg = mail.message
    assert sorted(k.lower() for k, _v in msg.items()) == sorted(
        [
            "subject",
            "from",
            "to",
            "cc",
            "date",
            "message-id",
            "auto-submitted",
            "content-type",
            "content-transfer-encoding",
            "mime-version",
        ]
    )
    assert msg["From"] == SENDER
    assert msg["To"] == ", ".join(TO) and msg["Cc"] == ", ".join(CC)
    assert msg["Subject"].startswith("[activeresponse] ") and "pwned" not in msg["Subject"]
    assert not msg.is_multipart()
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    body = mail.text
    assert "203.0.113.9" in body and "203.0.113.10" in body
    for line in body.splitlines():
        assert not line.startswith(("Bcc:", "To:", "From:", "Subject:", "MAIL FROM", "RCPT"))
    assert len(body) < 30_000  # the 200 KB line is cut
    with Spool(cfg.notify_spool_path) as spool:
        assert spool.counts()["email"] == {"pending": 0, "sent": 2}
