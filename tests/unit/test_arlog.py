from __future__ import annotations

import os
import re
import subprocess
import time

from hypothesis import given
from hypothesis import strategies as st

from activeresponse import arlog


def test_ossec_line_matches_date_and_shape() -> None:
    now = time.time()
    line = arlog.ossec_line(
        "/var/ossec/active-response/bin/firewall-drop.sh",
        ["add", "-", "172.16.0.1", "1304756247.60385", "31151", "extra"],
        now,
    )
    date = subprocess.run(
        ["date", "-d", f"@{int(now)}"],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout.strip()
    assert line == (
        f"{date} /var/ossec/active-response/bin/firewall-drop.sh "
        "add - 172.16.0.1 1304756247.60385 31151"
    )


def test_ossec_line_pads_missing_arguments_like_the_shell() -> None:
    line = arlog.ossec_line("fd.sh", ["add", "-", "1.2.3.4"], 0)
    assert line.endswith(" fd.sh add - 1.2.3.4  ")


def test_wazuh_line() -> None:
    line = arlog.wazuh_line("active-response/bin/firewall-drop", "Starting", 0)
    assert re.fullmatch(
        r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d active-response/bin/firewall-drop: Starting", line
    )


def test_escape_keeps_one_line() -> None:
    assert arlog.escape("a\nb\rc\x00d\\e") == "a\\x0ab\\x0dc\\x00d\\\\e"
    assert arlog.escape("日本語") == "日本語"
    assert arlog.escape("bad\udcffbyte") == "bad\\xffbyte"
    assert arlog.escape("\u2028") == "\\u2028"


@given(st.lists(st.text(), min_size=0, max_size=8))
def test_any_argv_gives_one_printable_line(args: list[str]) -> None:
    line = arlog.ossec_line("fd.sh", args, 0)
    assert "\n" not in line and "\r" not in line
    assert all(ch.isprintable() for ch in line)
