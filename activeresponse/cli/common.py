"""Helpers shared by the commands: argument parsing, confirmation, JSON output, block rows."""

from __future__ import annotations

import json
import sys
import time

import click

from ..addresses import parse_network
from ..durations import format_duration, iso_utc, local_time
from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..addresses import IPNetwork
    from ..model import Block


def target(text: str) -> IPNetwork:
    """An address or CIDR from the command line (the guard checks it later)."""
    return parse_network(text)


def confirm(yes: bool, question: str) -> None:
    """Ask unless --yes; refuse to guess when nobody can answer."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("not on a terminal: add --yes to confirm")
    if not click.confirm(question, default=False):
        raise click.Abort


def print_json(data: object) -> None:
    # Compact: with indent, json falls back to its pure-Python encoder (5 s for 100,000
    # blocks instead of a fraction of one). Pipe through `jq` to read it.
    click.echo(json.dumps(data, separators=(",", ":")))


def block_row(number: int, b: Block, enforced: bool | None, where: str, now: float) -> dict:
    """One block as ``list`` shows it (and as ``list --json`` gives it)."""
    return {
        "number": number,
        "id": b.id,
        "address": b.address,
        "enforced": enforced,
        "where": where if enforced else ("MISSING" if enforced is False else "unknown"),
        "added": iso_utc(b.created),
        "expires": iso_utc(b.expires),
        "remaining_seconds": None if b.expires is None else max(0, round(b.expires - now)),
        "origin": b.origin,
        "rule_id": b.rule_id,
        "alert_id": b.alert_id,
        "user": b.user,
        "reason": b.reason,
        "hits": b.hits,
        "offence": b.offence,
    }


def expires_text(b: Block, now: float) -> str:
    if b.expires is None:
        return "permanent"
    return f"{local_time(b.expires)} (in {format_duration(b.expires - now)})"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def now() -> float:
    return time.time()
