from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from activeresponse import ossecconf
from activeresponse.errors import UsageError

BASE = """<ossec_config>
  <client><server-ip>203.0.113.50</server-ip></client>
</ossec_config>

<!-- a second root, as OSSEC allows -->
<ossec_config>
  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/messages</location>
  </localfile>
</ossec_config>
"""


def test_ids_block_goes_above_the_last_root_close() -> None:
    ids = ossecconf.set_mode(BASE, "ids")
    assert ids == BASE.replace(
        "  </localfile>\n</ossec_config>",
        "  </localfile>\n" + ossecconf.IDS_BLOCK + "</ossec_config>",
    )
    assert ossecconf.current_mode(ids) == "ids"
    assert ossecconf.set_mode(ids, "ips") == BASE
    assert ossecconf.set_mode(ids, "ids") == ids  # idempotent


def test_commented_blocks_do_not_count() -> None:
    text = BASE.replace(
        "<!-- a second root",
        "<!-- <active-response><disabled>yes</disabled></active-response> a second root",
    )
    assert ossecconf.current_mode(text) == "ips"
    # A commented-out </ossec_config> after the real one is not "the last".
    tail = BASE + "<!-- </ossec_config> -->\n"
    assert ossecconf.set_mode(tail, "ids").endswith(
        ossecconf.IDS_BLOCK + "</ossec_config>\n<!-- </ossec_config> -->\n"
    )


def test_hand_written_ids_sections_are_switched_to_no() -> None:
    text = BASE.replace(
        "<ossec_config>\n  <client>",
        "<ossec_config>\n  <active-response>\n    <disabled> yes </disabled>\n"
        "  </active-response>\n  <client>",
        1,
    )
    assert ossecconf.current_mode(text) == "ids"
    ips = ossecconf.set_mode(text, "ips")
    assert ossecconf.current_mode(ips) == "ips"
    assert "<disabled> no </disabled>" in ips
    assert len(ips) == len(text) - 1


def test_no_root_is_an_error() -> None:
    with pytest.raises(UsageError):
        ossecconf.set_mode("<agent_config></agent_config>", "ids")
    with pytest.raises(UsageError):
        ossecconf.set_mode(BASE, "maybe")


def test_rewrite_backs_up_and_keeps_mode(tmp_path: Path) -> None:
    conf = tmp_path / "ossec.conf"
    conf.write_text(BASE)
    os.chmod(conf, 0o640)
    backup = ossecconf.rewrite(str(conf), "new")
    assert Path(backup).read_text() == BASE and conf.read_text() == "new"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE(Path(backup).stat().st_mode) == 0o640
    second = ossecconf.rewrite(str(conf), "newer")
    assert second != backup and Path(second).read_text() == "new"
