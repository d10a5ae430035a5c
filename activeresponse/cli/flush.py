"""``activeresponse flush``: lift every block of ours at once."""

from __future__ import annotations

import click

from .. import operations
from .common import confirm


@click.command("flush")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def command(app: object, yes: bool) -> int:
    """Remove every block of ours (the ledger keeps their history); the localhost
    safeguards stay. Other tools' rules are not touched."""
    rt = app.runtime  # type: ignore[attr-defined]
    count = rt.ledger.count_active()
    if count == 0:
        click.echo("no active blocks")
        return 0
    confirm(yes, f"Remove all {count} active block(s)?")
    ended = operations.flush(rt)
    click.echo(f"removed {len(ended)} block(s); safeguards kept")
    return 0
