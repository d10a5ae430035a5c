"""``activeresponse unblock``: the false-positive path."""

from __future__ import annotations

import click

from .. import operations
from ..durations import format_duration, parse_duration
from ..errors import FAILURE
from .common import now, target


@click.command("unblock")
@click.argument("address")
@click.option(
    "--allow-for",
    "allow_for",
    metavar="DURATION",
    help="Also keep the agent from blocking it again for this long (e.g. 1h, 2d).",
)
@click.option("--reason", default="", help="Recorded with the allow entry.")
@click.pass_obj
def command(app: object, address: str, allow_for: str | None, reason: str) -> int:
    """Lift the block of ADDRESS at once (every chain, and the ledger), even while the
    agent runs; with --allow-for, the agent cannot re-block it for that long."""
    rt = app.runtime  # type: ignore[attr-defined]
    net = target(address)
    seconds = parse_duration(allow_for) if allow_for else None
    t = now()
    wider = [b for b in rt.ledger.active()
             if b.network != net and b.family == net.version
             and net.subnet_of(b.network)]  # type: ignore[arg-type]  # fmt: skip
    ended = operations.unblock(rt, net, removed_by="admin", now=t)
    if ended is not None:
        click.echo(f"unblocked {ended.address} (was: {ended.origin}, rule {ended.rule_id or '-'})")
    elif not wider:
        click.echo(f"{address} was not blocked")
    if seconds is not None:
        operations.allow(rt, net, expires=t + seconds, reason=reason or "unblock --allow-for",
                         now=t)  # fmt: skip
        click.echo(f"allowed {address} for {format_duration(seconds)}: the agent will not "
                   "block it again before then")  # fmt: skip
    if wider:
        nets = ", ".join(b.address for b in wider)
        click.echo(f"{address} is still blocked as part of {nets}: lift that with "
                   "`activeresponse unblock NETWORK` or `delete N`", err=True)  # fmt: skip
        return FAILURE
    return 0
