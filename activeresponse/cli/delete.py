"""``activeresponse delete``: remove a block by its ``list`` number, or any INPUT/FORWARD
rule by iptables line number or by rule spec (the two methods of the seed's manual).
Shows what it will remove and asks, unless --yes."""

from __future__ import annotations

import click

from .. import foreign, operations
from ..addresses import network_text, parse_network
from ..errors import FAILURE, InvalidAddress, UsageError
from .common import confirm, expires_text, now
from .listing import numbered_blocks


def _describe(b: object, t: float) -> str:
    return (f"{b.address} ({b.origin}, rule {b.rule_id or '-'}, "  # type: ignore[attr-defined]
            f"expires {expires_text(b, t)})")  # type: ignore[arg-type]  # fmt: skip


def delete_number(app: object, number: int, yes: bool) -> int:
    rt = app.runtime  # type: ignore[attr-defined]
    blocks = dict(numbered_blocks(rt))
    if number not in blocks:
        raise UsageError(f"no block number {number} (there are {len(blocks)}; see "
                         "`activeresponse list`)")  # fmt: skip
    chosen = blocks[number]
    confirm(yes, f"Remove block #{number} {_describe(chosen, now())} from the firewall?")
    # By address, under the lock: if the numbering moved since, we still remove the
    # block that was shown, never its neighbour.
    ended = operations.unblock(rt, chosen.network, removed_by="admin")
    if ended is None:
        click.echo(f"{chosen.address} was no longer blocked")
    else:
        click.echo(f"removed #{number} {ended.address} from every chain and the ledger")
    return 0


def delete_line(app: object, chain: str, number: int, ipv6: bool, yes: bool) -> int:
    rt = app.runtime  # type: ignore[attr-defined]
    family = 6 if ipv6 else 4
    with rt.lock():
        rule = foreign.rule_at(chain, number, family)
        if rule.ours:
            foreign.delete_rule(rule)  # refuses with the explanation
        confirm(yes, f"Remove {'ip6tables' if ipv6 else 'iptables'} {chain} rule {number}: "
                     f"{rule.text} ?")  # fmt: skip
        foreign.delete_rule(rule)
    click.echo(f"removed {chain} rule {number}: {rule.text}")
    return 0


def delete_spec(app: object, text: str, yes: bool) -> int:
    rt = app.runtime  # type: ignore[attr-defined]
    spec = foreign.Spec(text)
    t = now()
    with rt.lock():
        ours = None
        if spec.source:
            try:
                net = parse_network(spec.source.removesuffix("/32").removesuffix("/128"))
            except InvalidAddress:
                raise UsageError(f"cannot read the address in the spec: {spec.source}") from None
            ours = rt.ledger.find_active(network_text(net))
            covered = [b for b in rt.ledger.active()
                       if b.network != net and b.network.subnet_of(net)
                       and b.family == net.version]  # type: ignore[arg-type]  # fmt: skip
            if covered and spec.is_plain_block:
                raise UsageError(
                    f"ambiguous: {spec.source} covers {len(covered)} separate blocks "
                    f"({', '.join(b.address for b in covered[:5])}...); delete them by number"
                )
            if ours is not None and not spec.is_plain_block:
                ours = None  # a more specific rule than ours: only foreign rules can match
        chains = spec.matches()
        if ours is None and not chains:
            click.echo(f"no rule matches '{text}' in INPUT or FORWARD, and no block of ours",
                       err=True)  # fmt: skip
            return FAILURE
        what = []
        if ours is not None:
            what.append(f"our block {_describe(ours, t)} (every chain, and the ledger)")
        what += [f"{chain}: {' '.join(spec.tokens)}" for chain in chains]
        confirm(yes, "Remove " + "; ".join(what) + " ?")
        for chain in chains:
            spec.delete(chain)
            click.echo(f"removed from {chain}: {' '.join(spec.tokens)}")
    if ours is not None:
        operations.unblock(rt, ours.network, removed_by="admin")
        click.echo(f"removed our block of {ours.address}")
    return 0


@click.command("delete")
@click.argument("number", type=int, required=False)
@click.option(
    "--chain",
    type=click.Choice(["INPUT", "FORWARD"]),
    help="Delete line NUMBER of this chain (iptables line numbers, see `list --foreign`).",
)
@click.option(
    "--spec",
    metavar="RULE",
    help="Delete the rule matching this iptables spec "
    "from INPUT and FORWARD, e.g. '-s 192.0.2.7 -j DROP'.",
)
@click.option("--ipv6", is_flag=True, help="With --chain: the ip6tables chain.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def command(app: object, number: int | None, chain: str | None, spec: str | None, ipv6: bool,
            yes: bool) -> int:  # fmt: skip
    """Remove block NUMBER (as numbered by `activeresponse list`), or a rule of INPUT or
    FORWARD by --chain and line NUMBER, or by --spec.

    \b
    activeresponse delete 2
    activeresponse delete --chain INPUT 5
    activeresponse delete --spec '-s 192.0.2.7 -j DROP'
    """
    if spec is not None:
        if number is not None or chain:
            raise UsageError("--spec takes no NUMBER and no --chain")
        return delete_spec(app, spec, yes)
    if number is None:
        raise UsageError("give a block NUMBER (see `activeresponse list`), or --spec")
    if number < 1:
        raise UsageError("numbers start at 1")
    if chain:
        return delete_line(app, chain, number, ipv6, yes)
    if ipv6:
        raise UsageError("--ipv6 goes with --chain")
    return delete_number(app, number, yes)
