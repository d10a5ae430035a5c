"""``activeresponse agent-logs``: which logs, in which layout, and merging into ossec.conf."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from plesk_sim import make_tree
from plesk_sim.tree import NGINX_LOGS, PROXY_LOGS, SYSTEM_LOGS, VHOST_LOGS

from activeresponse.cli import main
from plesk.logpaths import agent_logs
from plesk.ossec_merge import merge_text, monitored

CASES = [(v, layout) for v in ("11.0", "12.5", "18.0") for layout in ("debian", "rhel")]


def expected(fake, nginx: bool) -> list[tuple[str, str]]:
    out = [
        (p, "apache" if "/httpd/" in p or "/apache2/" in p else "syslog")
        for p in SYSTEM_LOGS[fake.layout]
    ]
    if nginx:
        out += [(p, "apache") for p in NGINX_LOGS]
    for domain in sorted(fake.domains):
        for name in VHOST_LOGS + (PROXY_LOGS if nginx else []):
            out.append((f"{fake.vhost_log_dir(domain)}/{name}", "apache"))
    return out


@pytest.mark.parametrize(("version", "layout"), CASES)
@pytest.mark.parametrize("nginx", [True, False])
def test_logs_for_every_version_and_layout(
    tmp_path: Path, version: str, layout: str, nginx: bool
) -> None:
    fake = make_tree(tmp_path, version, layout, nginx=nginx)
    _info, logs = agent_logs(str(tmp_path))
    assert [(log.location, log.log_format) for log in logs] == expected(fake, nginx)
    # The host's paths, without the test root; the layout of that Plesk version.
    assert all(not log.location.startswith(str(tmp_path)) for log in logs)
    vhost = [log.location for log in logs if log.kind == "vhost"]
    marker = "/statistics/logs/" if version == "11.0" else "/var/www/vhosts/system/"
    assert vhost and all(marker in loc for loc in vhost)


def test_only_existing_system_logs_and_proxy_logs_where_present(tmp_path: Path) -> None:
    fake = make_tree(tmp_path, "18.0", "debian", nginx=False, domains=("a.example", "b.example"))
    os.unlink(fake.path("/var/log/mail.log"))
    (fake.path(fake.vhost_log_dir("b.example")) / "proxy_access_log").write_text("")
    _info, logs = agent_logs(str(tmp_path))
    locations = [log.location for log in logs]
    assert "/var/log/mail.log" not in locations and "/var/log/auth.log" in locations
    assert not any("a.example/logs/proxy_" in loc for loc in locations)
    assert "/var/www/vhosts/system/b.example/logs/proxy_error_log" in locations
    assert not any(x in loc for loc in locations for x in ("/default/", "/chroot/", ".skel"))


def test_without_plesk_only_system_logs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/redhat-release").write_text("Rocky Linux release 9.3\n")
    (tmp_path / "var/log/httpd").mkdir(parents=True)
    for name in ("secure", "messages", "httpd/access_log"):
        (tmp_path / "var/log" / name).write_text("")
    info, logs = agent_logs(str(tmp_path))
    assert not info.present
    assert [(log.location, log.log_format, log.kind) for log in logs] == [
        ("/var/log/secure", "syslog", "login"),
        ("/var/log/messages", "syslog", "system"),
        ("/var/log/httpd/access_log", "apache", "web"),
    ]


def test_cli_prints_blocks_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = make_tree(tmp_path, "11.0", "rhel", nginx=False, domains=("example.com",))
    assert main(["agent-logs", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- Plesk 11.0.9 on CentOS 6")
    assert (
        "  <localfile>\n    <log_format>apache</log_format>\n"
        "    <location>/var/www/vhosts/example.com/statistics/logs/access_ssl_log</location>\n"
        "  </localfile>\n"
    ) in out
    assert out.count("<localfile>") == len(expected(fake, False))
    assert main(["agent-logs", "--root", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plesk"].startswith("Plesk 11.0.9")
    assert {"location": "/var/log/secure", "log_format": "syslog", "kind": "login"} in data["logs"]
    assert {
        "location": "/var/www/vhosts/example.com/statistics/logs/error_log",
        "log_format": "apache",
        "kind": "vhost",
        "domain": "example.com",
    } in data["logs"]


OSSEC_CONF = """<!-- OSSEC agent configuration -->
<ossec_config>
  <client>
    <server-ip>203.0.113.50</server-ip>
  </client>

  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/syslog</location>
  </localfile>
  <!--
  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/auth.log</location>
  </localfile>
  -->
  <localfile>
    <log_format>apache</log_format>
    <location>/var/www/vhosts/system/*/logs/error_log</location>
  </localfile>
</ossec_config>

<ossec_config>
  <active-response>
    <disabled>no</disabled>
  </active-response>
</ossec_config>
<!-- caf\xe9 note: old block follows
</ossec_config>
-->
"""


def split_insert(old: bytes, new: bytes) -> tuple[int, bytes]:
    """(offset, inserted bytes), asserting ``new`` is ``old`` with one insertion."""
    start = 0
    while start < len(old) and old[start] == new[start]:
        start += 1
    extra = len(new) - len(old)
    assert extra > 0
    assert new[:start] == old[:start] and new[start + extra :] == old[start:]
    return start, new[start : start + extra]


def test_merge_inserts_only_missing_blocks_keeps_every_byte_and_backs_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tree(tmp_path / "root", "18.0", "debian", nginx=False, domains=("example.com",))
    conf = tmp_path / "ossec.conf"
    original = OSSEC_CONF.encode("latin-1")  # one byte that is not UTF-8: kept as is
    conf.write_bytes(original)
    os.chmod(conf, 0o640)
    owner = (0, 4) if os.geteuid() == 0 else (os.getuid(), os.getgid())  # root:adm
    os.chown(conf, *owner)
    assert main(["agent-logs", "--root", str(tmp_path / "root"), "--merge", str(conf)]) == 0
    out = capsys.readouterr().out
    new = conf.read_bytes()
    at, inserted = split_insert(original, new)
    # Before the last </ossec_config> outside comments, at the start of its line.
    assert original[at:].startswith(b"</ossec_config>\n<!-- caf")
    text = inserted.decode()
    added = re.findall(r"<location>(.*?)</location>", text)
    assert "/var/log/auth.log" in added  # only commented out before: not monitored
    assert "/var/log/syslog" not in added  # already there
    assert "/var/www/vhosts/system/example.com/logs/error_log" not in added  # glob covers it
    assert "/var/www/vhosts/system/example.com/logs/access_ssl_log" in added
    assert text.startswith("  <!-- Added by activeresponse agent-logs -->\n  <localfile>\n")
    assert text.count("<localfile>") == len(added)
    assert f"added {len(added)} <localfile> block(s)" in out
    backups = list(tmp_path.glob("ossec.conf.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == original
    assert re.fullmatch(r"ossec\.conf\.\d{8}-\d{6}\.bak", backups[0].name)
    st = os.stat(conf)
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, *owner)

    # Second time: nothing to add, nothing written, no new backup.
    assert (
        main(["agent-logs", "--root", str(tmp_path / "root"), "--merge", str(conf), "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["added"] == [] and data["backup"] is None
    assert conf.read_bytes() == new
    assert len(list(tmp_path.glob("ossec.conf.*.bak"))) == 1


def test_merge_follows_crlf_and_tabs() -> None:
    from plesk.logpaths import LogFile

    text = (
        "<ossec_config>\r\n\t<localfile>\r\n\t\t<location>/a</location>\r\n"
        "\t</localfile>\r\n</ossec_config>\r\n"
    )
    result = merge_text(text, [LogFile("/a", "syslog", "system"), LogFile("/b", "apache", "web")])
    assert [log.location for log in result.added] == ["/b"]
    assert result.text == text.replace(
        "</ossec_config>",
        "\t<!-- Added by activeresponse agent-logs -->\r\n\t<localfile>\r\n"
        "\t\t<log_format>apache</log_format>\r\n\t\t<location>/b</location>\r\n"
        "\t</localfile>\r\n</ossec_config>",
    )
    assert monitored(result.text) == ["/a", "/b"]


def test_merge_refuses_a_file_without_ossec_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tree(tmp_path / "root")
    conf = tmp_path / "ossec.conf"
    conf.write_text("<!-- </ossec_config> -->\n")
    assert main(["agent-logs", "--root", str(tmp_path / "root"), "--merge", str(conf)]) == 2
    assert "not an ossec.conf" in capsys.readouterr().err
    assert conf.read_text() == "<!-- </ossec_config> -->\n"
    assert not list(tmp_path.glob("ossec.conf.*.bak"))
    link = tmp_path / "link.conf"
    link.symlink_to(conf)
    assert main(["agent-logs", "--root", str(tmp_path / "root"), "--merge", str(link)]) == 2
    assert (
        main(["agent-logs", "--root", str(tmp_path / "root"), "--merge", str(tmp_path / "no")]) == 2
    )
