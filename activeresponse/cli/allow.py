"""``activeresponse allow``: addresses the agent must never block (beyond the config's
static allowlist), optionally for a limited time."""

from __future__ import annotations

import click

from .. import operations
from ..durations import iso_utc, local_time, parse_duration
from .common import now, print_json, table, target


@click.group("allow")
def command() -> None:
    """Manage the allowlist (IPs and CIDRs that are never blocked)."""


@command.command("add")
@click.argument("address")
@click.option("--for", "duration", metavar="DURATION", help="Expire after this long.")
@click.option("--reason", default="")
@click.pass_obj
def add(app: object, address: str, duration: str | None, reason: str) -> int:
    """Never block ADDRESS (IP or CIDR)."""
    rt = app.runtime  # type: ignore[attr-defined]
    net = target(address)
    t = now()
    expires = t + parse_duration(duration) if duration else None
    operations.allow(rt, net, expires=expires, reason=reason, now=t)
    click.echo(f"allowed {address}" + (f" until {local_time(expires)}" if expires else ""))
    blocked = [b for b in rt.ledger.active() if b.family == net.version
               and b.network.overlaps(net)]  # type: ignore[arg-type]  # fmt: skip
    for b in blocked:
        click.echo(f"note: {b.address} is blocked right now; lift it with "
                   f"`activeresponse unblock {b.address}`", err=True)  # fmt: skip
    return 0


@command.command("remove")
@click.argument("address")
@click.pass_obj
def remove(app: object, address: str) -> int:
    """Remove ADDRESS from the allowlist made with `allow add`."""
    rt = app.runtime  # type: ignore[attr-defined]
    net = target(address)
    if operations.disallow(rt, net):
        click.echo(f"removed {address} from the allowlist")
        return 0
    in_config = address in rt.config.allowlist
    where = f" (it is in the config's allowlist, {rt.config.source})" if in_config else ""
    click.echo(f"{address} is not in the allowlist made with `allow add`{where}", err=True)
    return 1


@command.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_(app: object, as_json: bool) -> int:
    """Show the allowlist: the config's entries and those made with `allow add`."""
    rt = app.runtime  # type: ignore[attr-defined]
    rows = [{"address": a, "expires": None, "reason": "", "source": "config"}
            for a in rt.config.allowlist]  # fmt: skip
    rows += [{"address": a, "expires": iso_utc(e), "reason": r, "source": "allow add"}
             for a, e, r in rt.ledger.active_allows(now())]  # fmt: skip
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo("the allowlist is empty (loopback, this host and the manager are always "
                   "protected)")  # fmt: skip
    else:
        click.echo(table(["address", "expires", "source", "reason"],
                         [[r["address"], r["expires"] or "never", r["source"], r["reason"]]
                          for r in rows]))  # fmt: skip
    return 0
