"""``activeresponse migrate``: move every block to another backend, none unenforced
on the way."""

from __future__ import annotations

import click

from .. import operations
from ..errors import UsageError
from .common import now


@click.command("migrate")
@click.option("--to", "target", required=True,
              type=click.Choice(["iptables", "ipset", "nftables"]),
              help="The backend to move to.")  # fmt: skip
@click.pass_obj
def command(app: object, target: str) -> int:
    """Move every active block to another backend. The new backend enforces all of them
    before the old one's rules and sets are removed, so no block is ever off. With
    backend = "auto" the choice is remembered; otherwise set backend in the config."""
    rt = app.runtime  # type: ignore[attr-defined]
    configured = rt.config.backend
    if configured not in ("auto", target):
        raise UsageError(
            f'the config says backend = "{configured}": set it to "{target}" (or "auto") '
            f"in {rt.config.source} and run `activeresponse restore`, which moves the blocks"
        )
    t = now()
    with rt.lock(), rt.ledger.transaction():
        if configured == "auto":
            rt.ledger.set_meta("auto_backend", target)
        lines = operations.migrate_blocks(rt, rt.backend_named(target), t)
    rt.backend.settle()
    for line in lines:
        click.echo(line)
    return 0
