"""``activeresponse import`` / ``export``: many blocks in one go."""

from __future__ import annotations

import sys
from collections import Counter

import click

from .. import bulk, operations
from ..errors import REFUSED
from ..fileutil import write_atomic
from ..lockout import protected
from .common import now


def _read(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        with open(source, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None


@click.command("import")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    help="For lines without a duration [default: admin_block_timeout, 1 day].",
)
@click.option("--reason", default="", help="Recorded with every block.")
@click.option(
    "--force",
    is_flag=True,
    help="Allow networks wider than widest_block_v4/_v6, "
    "your SSH session's address and the default gateway.",
)
@click.pass_obj
def import_(app: object, source: str, duration: str | None, reason: str, force: bool) -> int:
    """Block every address or CIDR listed in FILE (or stdin): one per line, an optional
    duration (3600, 2d, permanent), # comments. Every line passes the guard; a bad or
    refused line is reported with its number and does not stop the rest. One kernel
    batch for the whole file. Exit 3 if any line was refused."""
    from ..durations import parse_duration

    rt = app.runtime  # type: ignore[attr-defined]
    default = parse_duration(duration) if duration else rt.config.admin_block_timeout
    entries, bad = bulk.parse_lines(_read(source))
    items = [(e.line, e.network, default if e.duration is bulk.DEFAULT else e.duration)
             for e in entries]  # fmt: skip
    show_bar = sys.stderr.isatty() and len(items) >= 1000
    with click.progressbar(length=len(items), label="checking", file=sys.stderr) if show_bar \
            else _NoBar() as bar:  # fmt: skip
        stored, refused = operations.block_many(
            rt, items, reason=reason, force_width=force, protected=protected(force),
            progress=bar.update, now=now())  # fmt: skip
    problems = sorted(bad + refused)
    for line, why in problems[:50]:
        click.echo(f"line {line}: {why}", err=True)
    if len(problems) > 50:
        click.echo(f"... and {len(problems) - 50} more", err=True)
    new = sum(1 for _, is_new in stored if is_new)
    click.echo(f"accepted {len(stored)} ({new} new, {len(stored) - new} extended), "
               f"refused {len(problems)}")  # fmt: skip
    if problems:
        kinds = Counter(why.split(": ", 1)[-1].split(" (")[0] for _, why in problems)
        click.echo("refused: " + ", ".join(f"{n} {k}" for k, n in kinds.most_common(8)))
    return REFUSED if problems else 0


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


@click.command("export")
@click.argument("target", metavar="[FILE|-]", default="-")
@click.pass_obj
def export(app: object, target: str) -> int:
    """Write every active block in the import format (remaining durations), to FILE
    (atomically, mode 0600) or stdout."""
    rt = app.runtime  # type: ignore[attr-defined]
    t = now()
    lines = [bulk.export_line(b, t) for b in rt.ledger.active() if not b.expired(t)]
    text = "".join(line + "\n" for line in lines)
    if target == "-":
        click.echo(text, nl=False)
    else:
        write_atomic(target, text.encode(), 0o600)
        click.echo(f"wrote {len(lines)} block(s) to {target}", err=True)
    return 0
