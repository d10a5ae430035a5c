"""``activeresponse mode``: the agent's IDS (detect only) / IPS (block) switch, done the
way the seed's manual describes, without hand-editing ossec.conf."""

from __future__ import annotations

import os

import click

from .. import ossecconf
from ..errors import UsageError
from ..runner import run
from .common import print_json


def _conf_path(app: object, given: str | None) -> str:
    if given:
        return given
    tree = app.runtime.tree  # type: ignore[attr-defined]
    if tree is None or not os.path.isfile(tree.ossec_conf):
        raise UsageError("no agent ossec.conf found: give --ossec-conf PATH "
                         "(or agent_root in the config)")  # fmt: skip
    return tree.ossec_conf


def _restart(conf: str) -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(conf)))
    for name in ("wazuh-control", "ossec-control"):
        control = os.path.join(root, "bin", name)
        if os.access(control, os.X_OK):
            run([control, "restart"], timeout=300)
            return control
    raise UsageError(f"no wazuh-control or ossec-control in {root}/bin: restart the agent "
                     "yourself")  # fmt: skip


@click.command("mode")
@click.argument("mode", type=click.Choice(["ids", "ips"]), required=False)
@click.option(
    "--ossec-conf",
    "conf",
    metavar="PATH",
    help="The agent's ossec.conf [default: <agent>/etc/ossec.conf].",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Restart the agent afterwards (needed for the change to take effect).",
)
@click.option("--json", "as_json", is_flag=True, help="With no MODE: machine-readable output.")
@click.pass_obj
def command(app: object, mode: str | None, conf: str | None, restart: bool, as_json: bool) -> int:
    """Show the mode, or switch to IDS (detect only: active response disabled) or IPS
    (block). Edits ossec.conf as text, keeping every other byte, after a timestamped
    backup."""
    path = _conf_path(app, conf)
    text = ossecconf.read(path)
    current = ossecconf.current_mode(text)
    if mode is None:
        if as_json:
            print_json({"mode": current, "ossec_conf": path})
        else:
            click.echo(f"{current.upper()} ({path})")
        return 0
    if mode == current:
        click.echo(f"already {mode.upper()}; {path} unchanged")
    else:
        backup = ossecconf.rewrite(path, ossecconf.set_mode(text, mode))
        click.echo(f"switched to {mode.upper()} in {path} (backup: {backup})")
    if restart:
        click.echo(f"restarted the agent ({_restart(path)} restart)")
    elif mode != current:
        click.echo("restart the agent for it to take effect (or use --restart)")
    return 0
