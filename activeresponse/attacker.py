"""The attacker's address from the alert's log line, when the agent's own is wrong.

An alert decoded from the ``messages`` log (PAM, for one) may carry no ``srcip``, or the
monitored host's own address, while the log line names the real source: ``rhost=ADDR``
(pam_unix), ``from ADDR`` (sshd), ``client ADDR`` (Apache, BIND). This module reads
those. It is the agent's fallback path only, so it may import ``re``.

The log line is attacker-controlled text (a user name can hold ``from 198.51.100.7``),
so a guess is never made: every candidate is parsed strictly, the ones the guard
refuses (this host, loopback, the manager...) are dropped, and only if exactly one
distinct address remains is it used. Two different addresses: ambiguous, none is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .addresses import parse_ip
from .errors import InvalidAddress

# Longest log text looked at: execd's own message limit.
MAX_TEXT = 65536

# The keyword, then one token (no spaces, brackets or list punctuation).
_PATTERN = re.compile(r"(?:\b(rhost)=|\b(from|client)\s+\[?)([^\s\[\]<>(),;'\"#]+)", re.I)
_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")


class Found:
    """The address a log line names, and the pattern that named it (``rhost=``...)."""

    __slots__ = ("address", "pattern")

    def __init__(self, address: str, pattern: str) -> None:
        self.address = address
        self.pattern = pattern

    def __repr__(self) -> str:
        return f"Found({self.address!r}, {self.pattern!r})"


def candidates(text: str) -> list[Found]:
    """Every valid IP literal the patterns find in ``text``, in order (duplicates kept)."""
    found: list[Found] = []
    for match in _PATTERN.finditer(text[:MAX_TEXT]):
        keyword = (match.group(1) or match.group(2)).lower()
        token = match.group(3).rstrip(".")  # the end of a sentence
        if token.endswith(":") and not token.endswith("::"):
            token = token[:-1]
        pattern = "rhost=" if keyword == "rhost" else f"{keyword} <address>"
        with_port = _IPV4_PORT.fullmatch(token)
        if with_port and keyword != "rhost":  # Apache 2.4: "[client 203.0.113.9:51234]"
            token = with_port.group(1)
        elif keyword == "client" and ":" in token:
            # "client 2001:db8::1:51234" cannot be told from an address: never guess.
            continue
        try:
            address = parse_ip(token)
        except InvalidAddress:
            continue  # a host name (pam writes one when DNS resolved), or not an address
        found.append(Found(str(address), pattern))
    return found


def from_log(text: str, acceptable: Callable[[str], bool]) -> tuple[Found | None, list[str]]:
    """The one address ``text`` names that ``acceptable`` accepts, or None.

    Also returns why nothing was found (the candidates dropped or the ambiguity), for
    the log."""
    kept: dict[str, Found] = {}
    dropped: list[str] = []
    for found in candidates(text):
        if found.address in kept or found.address in dropped:
            continue
        if acceptable(found.address):
            kept[found.address] = found
        else:
            dropped.append(found.address)
    notes = [f"{a} refused by the guard" for a in dropped]
    if len(kept) == 1:
        return next(iter(kept.values())), notes
    if len(kept) > 1:
        notes.append(f"ambiguous: the log line names {', '.join(kept)}")
    return None, notes
