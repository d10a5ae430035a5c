"""Editing ossec.conf as text: IDS/IPS mode, and safe rewrites.

ossec.conf is not one XML document (several ``<ossec_config>`` roots, comments), and
admins keep their own formatting, so every edit here is a textual insertion or removal
that keeps every other byte; the original is backed up first and the new file replaces
it atomically with the same owner and mode.
"""

from __future__ import annotations

import os
import time

from .errors import UsageError
from .fileutil import write_atomic

ROOT_CLOSE = "</ossec_config>"
# Exactly the manual's block (IDS/IPS mode chapter), placed just above the last
# </ossec_config> with a blank line after it.
IDS_BLOCK = "    <active-response>\n        <disabled>yes</disabled>\n    </active-response>\n\n"


def _blank_comments(text: str) -> str:
    """``text`` with comment bodies replaced by spaces (offsets preserved)."""
    out = list(text)
    pos = 0
    while True:
        start = text.find("<!--", pos)
        if start == -1:
            return "".join(out)
        end = text.find("-->", start + 4)
        end = len(text) if end == -1 else end + 3
        out[start:end] = " " * (end - start)
        pos = end


def _last_root_close(text: str) -> int:
    """Offset of the start of the line holding the last (uncommented) </ossec_config>."""
    where = _blank_comments(text).rfind(ROOT_CLOSE)
    if where == -1:
        raise UsageError("ossec.conf has no </ossec_config>: not an OSSEC/Wazuh config?")
    return text.rfind("\n", 0, where) + 1


def _disabled_blocks(text: str) -> list[tuple[int, int, str]]:
    """(start, end, body) of every uncommented <active-response> block."""
    clean = _blank_comments(text)
    found = []
    pos = 0
    while True:
        start = clean.find("<active-response>", pos)
        if start == -1:
            return found
        end = clean.find("</active-response>", start)
        if end == -1:
            return found
        end += len("</active-response>")
        found.append((start, end, clean[start:end]))
        pos = end


def _says_disabled(body: str) -> bool:
    compact = "".join(body.split())
    return "<disabled>yes</disabled>" in compact


def current_mode(text: str) -> str:
    """``ids`` if an active-response section says ``<disabled>yes</disabled>``, else ``ips``."""
    return "ids" if any(_says_disabled(b) for _, _, b in _disabled_blocks(text)) else "ips"


def set_mode(text: str, mode: str) -> str:
    """The config text switched to ``mode`` (``ids``/``ips``), as the manual describes."""
    if mode not in ("ids", "ips"):
        raise UsageError(f"mode must be ids or ips, not {mode!r}")
    if current_mode(text) == mode:
        return text
    if mode == "ids":
        at = _last_root_close(text)
        return text[:at] + IDS_BLOCK + text[at:]
    # ips: take out our own block exactly; otherwise turn every "yes" into "no" (the
    # manual's alternative) so the admin's hand-written sections stay where they are.
    at = _last_root_close(text)
    if text[:at].endswith(IDS_BLOCK):
        return text[: at - len(IDS_BLOCK)] + text[at:]
    out = text
    for start, end, body in reversed(_disabled_blocks(text)):
        if _says_disabled(body):
            section = out[start:end]
            i = section.find("yes", section.find("<disabled>"))
            out = out[:start] + section[:i] + "no" + section[i + 3 :] + out[end:]
    return out


def backup(path: str, now: float | None = None) -> str:
    """Copy ``path`` beside itself with a timestamp, same owner and mode; returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = f"{path}.activeresponse-{stamp}.bak"
    n = 1
    while os.path.exists(target):
        n += 1
        target = f"{path}.activeresponse-{stamp}-{n}.bak"
    st = os.stat(path)
    with open(path, "rb") as fh:
        data = fh.read()
    write_atomic(target, data, st.st_mode & 0o777)
    os.chown(target, st.st_uid, st.st_gid)
    return target


def rewrite(path: str, text: str) -> str:
    """Back up ``path``, then replace it atomically with ``text`` keeping owner and mode.
    Returns the backup's path."""
    st = os.stat(path)
    saved = backup(path)
    write_atomic(path, text.encode("utf-8", "surrogateescape"), st.st_mode & 0o777)
    os.chown(path, st.st_uid, st.st_gid)
    return saved


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
