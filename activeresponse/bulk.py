"""The import/export file format: one address or CIDR per line, an optional duration
(``3600``, ``2d``, ``permanent``), ``#`` comments. ``export`` writes what ``import``
reads, so a ledger round-trips (remaining durations, rounded up to the second)."""

from __future__ import annotations

import math

from .addresses import parse_network
from .durations import parse_duration
from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .addresses import IPNetwork
    from .model import Block

PERMANENT = "permanent"
# Marks "no duration on this line: use the default" apart from None (permanent).
DEFAULT = object()


class Entry:
    __slots__ = ("duration", "line", "network")

    def __init__(self, line: int, network: IPNetwork, duration: object) -> None:
        self.line = line
        self.network = network
        self.duration = duration  # seconds, None (permanent) or DEFAULT


def parse_lines(lines: Iterable[str]) -> tuple[list[Entry], list[tuple[int, str]]]:
    """Entries, and (line number, why) for every line that is not one."""
    entries: list[Entry] = []
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            bad.append((number, "expected ADDRESS [DURATION]"))
            continue
        try:
            network = parse_network(words[0])
            duration: object = DEFAULT
            if len(words) == 2:
                duration = None if words[1] == PERMANENT else parse_duration(words[1])
        except UsageError as exc:
            bad.append((number, str(exc)))
            continue
        entries.append(Entry(number, network, duration))
    return entries, bad


def export_line(block: Block, now: float) -> str:
    duration = PERMANENT if block.expires is None else str(max(1, math.ceil(block.expires - now)))
    note = f"{block.origin}"
    if block.rule_id:
        note += f" rule {block.rule_id}"
    if block.reason:
        note += f": {block.reason}"
    return f"{block.address} {duration}  # {note.replace(chr(10), ' ')}"
