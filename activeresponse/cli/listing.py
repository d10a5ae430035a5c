"""``activeresponse list``: every block, numbered from the ledger (oldest first), the
number ``delete N`` acts on; optionally the other rules of INPUT/FORWARD with their
iptables line numbers (``delete --chain``)."""

from __future__ import annotations

import click

from .. import foreign
from ..backends.base import FAMILIES
from ..durations import local_time
from ..errors import ActiveResponseError
from .common import block_row, expires_text, now, print_json, table


def numbered_blocks(rt: object) -> list:
    """Active blocks in ``list`` order: position 1..N (the same order ``delete`` uses)."""
    return list(enumerate(rt.ledger.active(), 1))  # type: ignore[attr-defined]


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--foreign",
    "show_foreign",
    is_flag=True,
    help="Also list every INPUT/FORWARD rule with its iptables line number.",
)
@click.pass_obj
def command(app: object, as_json: bool, show_foreign: bool) -> int:
    """List active blocks, numbered (the number `activeresponse delete N` takes)."""
    rt = app.runtime  # type: ignore[attr-defined]
    t = now()
    blocks = numbered_blocks(rt)
    try:
        enforced = rt.backend.enforced_addresses(rt.backend.read(FAMILIES))
        where = rt.backend.location()
    except ActiveResponseError as exc:
        click.echo(f"activeresponse: cannot read the firewall: {exc}", err=True)
        enforced, where = None, ""
    rows = [block_row(n, b, None if enforced is None else b.address in enforced, where, t)
            for n, b in blocks]  # fmt: skip
    hooks = [r.as_dict() for r in foreign.hook_rules()] if show_foreign else None
    if as_json:
        print_json({"blocks": rows, **({"hook_rules": hooks} if hooks is not None else {})})
        return 0
    if not rows:
        click.echo("no active blocks")
    else:
        click.echo(table(
            ["#", "address", "enforced", "added", "expires", "origin", "rule", "alert"],
            [[str(r["number"]), r["address"], r["where"], local_time(b.created),
              expires_text(b, t), r["origin"], r["rule_id"] or "-", r["alert_id"] or "-"]
             for r, (_, b) in zip(rows, blocks)],
        ))  # fmt: skip
    if hooks is not None:
        click.echo("\nINPUT/FORWARD rules (iptables line numbers, for `delete --chain`):")
        click.echo(table(
            ["family", "chain", "num", "rule", ""],
            [[f"IPv{h['family']}", h["chain"], str(h["number"]), h["rule"],
              "activeresponse" if h["activeresponse"] else ""] for h in hooks],
        ))  # fmt: skip
    return 0
