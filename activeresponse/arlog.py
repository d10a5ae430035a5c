"""Lines for ``active-responses.log``, in the format of the protocol that invoked us.

The manager decodes these lines with its stock ``ar_log`` decoder, so the shape is
exactly the agent's own script's:

- OSSEC 2.x: ``date`` output, the script path as invoked, then ``$1 $2 $3 $4 $5``::

      Sat May  7 03:17:27 CDT 2011 /var/ossec/active-response/bin/firewall-drop.sh \\
          add - 172.16.0.1 1304756247.60385 31151   (one line)

- Wazuh 4.x: ``2024/05/03 15:04:18 active-response/bin/firewall-drop: <message>``

Every field is attacker-controlled, so control characters, backslashes and undecodable
bytes are escaped: one call is always exactly one line.
"""

from __future__ import annotations

import time

from .fileutil import append_line


def escape(text: str) -> str:
    """Make untrusted text safe for a one-line log record."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def ossec_line(script: str, args: list[str], now: float | None = None) -> str:
    """``<date> <script> $1 $2 $3 $4 $5`` exactly as OSSEC's firewall-drop.sh writes it
    (missing arguments are empty words, as in the shell)."""
    stamp = time.strftime("%a %b %e %H:%M:%S %Z %Y", time.localtime(now))
    words = [escape(a) for a in args[:5]]
    words += [""] * (5 - len(words))
    return f"{stamp} {escape(script)} {' '.join(words)}"


def ossec_message(script: str, message: str, now: float | None = None) -> str:
    """A diagnostic line in the OSSEC log (the script's ``echo "$0: ..."`` form)."""
    stamp = time.strftime("%a %b %e %H:%M:%S %Z %Y", time.localtime(now))
    return f"{stamp} {escape(script)}: {escape(message)}"


def wazuh_line(program: str, message: str, now: float | None = None) -> str:
    """``YYYY/MM/DD HH:MM:SS <program>: <message>`` as Wazuh's write_debug_file does."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
    return f"{stamp} {escape(program)}: {escape(message)}"


class ARLog:
    """Appends lines to one active-responses.log; never lets a log failure stop a block."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: OSError | None = None

    def write(self, line: str) -> None:
        try:
            append_line(self.path, line, 0o640)
        except OSError as exc:
            self.error = exc
