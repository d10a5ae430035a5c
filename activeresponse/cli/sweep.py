"""``activeresponse expire`` (cron, every minute) and ``restore`` (boot)."""

from __future__ import annotations

import click

from .. import operations


@click.command("expire")
@click.pass_obj
def expire(app: object) -> int:
    """End expired blocks and temporary allows, and repair what another tool wiped
    (safeguards, chains, sets, unexpired blocks). One line per action; silent when
    there is nothing to do. Run every minute by cron or activeresponse-expire.timer."""
    for line in operations.reconcile(app.runtime, why="expire"):  # type: ignore[attr-defined]
        click.echo(line)
    return 0


@click.command("restore")
@click.pass_obj
def restore(app: object) -> int:
    """Boot time: put the safeguards and every unexpired block back (expired ones are
    ended instead). Run by activeresponse-restore.service."""
    rt = app.runtime  # type: ignore[attr-defined]
    lines = operations.reconcile(rt, why="restore")
    for line in lines:
        click.echo(line)
    click.echo(f"{rt.ledger.count_active()} block(s) in force")
    return 0
