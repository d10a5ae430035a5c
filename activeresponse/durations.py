"""Durations as admins type them (``90``, ``90s``, ``10m``, ``1h``, ``2d``, ``1w``, ``1h30m``)
and as we print them."""

from __future__ import annotations

import time
from functools import lru_cache

from .errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raise :class:`UsageError` for anything else."""
    s = text.strip().lower()
    if s.isdigit():
        seconds = int(s)
    else:
        seconds, number = 0, ""
        for ch in s:
            if ch.isdigit():
                number += ch
            elif ch in _UNITS and number:
                seconds += int(number) * _UNITS[ch]
                number = ""
            else:
                number = "x"
                break
        if number or not s:
            raise UsageError(f"not a duration: {text!r} (examples: 90s, 10m, 1h, 2d, 1w)")
    if seconds <= 0:
        raise UsageError(f"duration must be positive: {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``2d 3h``, ``9m 58s``, ``45s``: the two largest units, for humans."""
    seconds = max(0, int(seconds))
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def local_time(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def iso_utc(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _iso_second(int(ts))


@lru_cache(maxsize=4096)  # an import gives thousands of blocks the same second
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
