"""``activeresponse block``: an admin's own block, through the same guard."""

from __future__ import annotations

import click

from .. import operations
from ..durations import format_duration, parse_duration
from ..errors import UsageError
from ..lockout import protected
from .common import expires_text, now, target


@click.command("block")
@click.argument("address")
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    help="How long (e.g. 30m, 12h, 7d); default: admin_block_timeout in the config (1 day).",
)
@click.option("--permanent", is_flag=True, help="Until removed by an admin.")
@click.option("--reason", default="", help="Recorded in the ledger, shown by list.")
@click.option(
    "--force",
    is_flag=True,
    help="Allow networks wider than widest_block_v4/_v6, "
    "your own SSH session's address and the default gateway.",
)
@click.pass_obj
def command(app: object, address: str, duration: str | None, permanent: bool, reason: str,
            force: bool) -> int:  # fmt: skip
    """Block ADDRESS (an IP or a CIDR network) on INPUT and FORWARD."""
    if duration and permanent:
        raise UsageError("give --for or --permanent, not both")
    rt = app.runtime  # type: ignore[attr-defined]
    net = target(address)
    timeout = None if permanent else (
        parse_duration(duration) if duration else rt.config.admin_block_timeout)  # fmt: skip
    result = operations.block(rt, net, timeout=timeout, origin="admin", reason=reason,
                              force_width=force, protected=protected(force))  # fmt: skip
    b = result.block
    verb = "blocked" if result.new else "already blocked; extended"
    length = "" if timeout is None else f" for {format_duration(timeout)}"
    click.echo(f"{verb} {b.address}{length}: expires {expires_text(b, now())}")
    return 0
