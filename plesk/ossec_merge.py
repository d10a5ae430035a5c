"""Add missing ``<localfile>`` blocks to an agent's ossec.conf, changing nothing else.

ossec.conf is not one XML document (several ``<ossec_config>`` roots, comments), so it is
edited as text: the new blocks go just before the last ``</ossec_config>`` that is not
inside a comment, in the file's own indentation and line endings; every other byte stays
as it was. A ``<location>`` the file already monitors (in a ``<localfile>`` outside
comments; a wildcard location covers what it matches) is not added again. Before writing,
the file is copied to ``<path>.<YYYYmmdd-HHMMSS>.bak``; the new file replaces it
atomically with the same owner, group and mode.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import time

from activeresponse.errors import StateError, UsageError
from activeresponse.fileutil import write_atomic

from .logpaths import LogFile

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LOCALFILE = re.compile(r"<localfile\b[^>]*>(.*?)</localfile\s*>", re.S)
_LOCATION = re.compile(r"<location\b[^>]*>(.*?)</location\s*>", re.S)
_CLOSE = "</ossec_config>"
HEADER = "<!-- Added by activeresponse agent-logs -->"


def _mask_comments(text: str) -> str:
    """The text with every comment blanked out, same length (offsets still match)."""
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def monitored(text: str) -> list[str]:
    """Locations of the ``<localfile>`` blocks outside comments."""
    out = []
    for block in _LOCALFILE.finditer(_mask_comments(text)):
        for loc in _LOCATION.finditer(block.group(1)):
            out.append(_unescape(loc.group(1).strip()))
    return out


def _covered(location: str, existing: list[str]) -> bool:
    for have in existing:
        if have == location:
            return True
        if any(c in have for c in "*?[") and fnmatch.fnmatchcase(location, have):
            return True
    return False


def _style(text: str) -> tuple[str, str, str]:
    """(indent of <localfile>, indent step, newline) as the file already uses them."""
    newline = "\r\n" if "\r\n" in text else "\n"
    masked = _mask_comments(text)
    found = re.search(r"^([ \t]*)<localfile\b", masked, re.M)
    indent = found.group(1) if found else "  "
    inner = re.search(r"^([ \t]*)<(?:log_format|location)\b", masked, re.M)
    unit = "  "
    if inner and inner.group(1).startswith(indent) and len(inner.group(1)) > len(indent):
        unit = inner.group(1)[len(indent) :]
    elif "\t" in indent:
        unit = "\t"
    return indent, unit, newline


class MergeResult:
    def __init__(self, text: str, added: list[LogFile], skipped: list[LogFile]) -> None:
        self.text = text
        self.added = added
        self.skipped = skipped
        self.backup: str | None = None


def merge_text(text: str, logs: list[LogFile]) -> MergeResult:
    """Insert the blocks of ``logs`` not monitored yet; pure."""
    existing = monitored(text)
    added = [log for log in logs if not _covered(log.location, existing)]
    skipped = [log for log in logs if log not in added]
    if not added:
        return MergeResult(text, [], skipped)
    at = _mask_comments(text).rfind(_CLOSE)
    if at < 0:
        raise UsageError(f"no {_CLOSE} outside comments: not an ossec.conf")
    indent, unit, newline = _style(text)
    insert = indent + HEADER + newline + "".join(log.block(indent, unit, newline) for log in added)
    line_start = text.rfind("\n", 0, at) + 1
    if text[line_start:at].strip():
        # Something precedes the closing tag on its line: start the blocks on a new line.
        insert = newline + insert
        line_start = at
    return MergeResult(text[:line_start] + insert + text[line_start:], added, skipped)


def merge_file(path: str, logs: list[LogFile], now: float | None = None) -> MergeResult:
    """Merge into the file at ``path``: backup first, then an atomic replace keeping its
    owner, group and mode. Nothing is written when nothing is missing."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file (a symlink?); give the real path")
    with open(path, "rb") as fh:
        raw = fh.read()
    # surrogateescape: bytes that are not UTF-8 come back out exactly as they went in.
    result = merge_text(raw.decode("utf-8", "surrogateescape"), logs)
    if not result.added:
        return result
    result.backup = _backup(path, st, now)
    try:
        write_atomic(
            path,
            result.text.encode("utf-8", "surrogateescape"),
            stat.S_IMODE(st.st_mode),
            owner=(st.st_uid, st.st_gid),
        )
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror} (backup: {result.backup})") from None
    return result


def _backup(path: str, st: os.stat_result, now: float | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    backup = f"{path}.{stamp}.bak"
    n = 1
    while os.path.lexists(backup):
        backup = f"{path}.{stamp}.{n}.bak"
        n += 1
    try:
        shutil.copy2(path, backup, follow_symlinks=False)
        os.chown(backup, st.st_uid, st.st_gid)
    except OSError as exc:
        raise StateError(f"cannot back up {path} to {backup}: {exc.strerror}") from None
    return backup
