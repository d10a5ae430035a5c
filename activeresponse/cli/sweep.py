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
    rt = app.runtime  # type: ignore[attr-defined]
    for line in operations.reconcile(rt, why="expire"):
        click.echo(line)
    for line in send_notifications(rt.config):
        click.echo(line)
    return 0


def send_notifications(config) -> list[str]:
    """Send the notifications that are due (what the agent's background sender left).
    Never fails the sweep: a mail server that is down is retried at the next run."""
    from .. import notify

    report = notify.deliver(config)
    lines = [f"notification via {c}: sent {k} of {n} event(s)" for c, k, n in report.sent]
    lines += [
        f"notification via {c} failed (kept, retried later): {e}" for c, e, _ in report.failed
    ]
    lines += [f"notifications: {e}" for e in report.errors]
    return lines


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
