"""The agent tree every benchmark runs firewall-drop from (shared by the bench scripts)."""

from __future__ import annotations

from pathlib import Path

from activeresponse.launcher import write_launcher


def make_agent_tree(work: Path, names: tuple[str, ...] = ("firewall-drop.sh",)) -> list[Path]:
    """``work/ossec`` with our launcher installed under ``names`` and a 600 s timeout for
    each in ar.conf; returns the executables."""
    bindir = work / "ossec/active-response/bin"
    bindir.mkdir(parents=True)
    (work / "ossec/etc/shared").mkdir(parents=True)
    (work / "ossec/logs").mkdir()
    exes = [bindir / name for name in names]
    for exe in exes:
        write_launcher(str(exe))
    (work / "ossec/etc/shared/ar.conf").write_text(
        "".join(f"firewall-drop600 - {name} - 600\n" for name in names)
    )
    return exes
