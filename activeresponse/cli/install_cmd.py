"""``activeresponse install`` / ``uninstall``."""

from __future__ import annotations

import click

from ..install import Installer


def _installer(app: object, agent_root: str | None, root: str, group: str | None) -> Installer:
    if agent_root is None:
        configured = app.config.agent_root  # type: ignore[attr-defined]
        agent_root = configured or "/var/ossec"
    return Installer(root=root, agent_root=agent_root, group=group)


_options = [
    click.option("--agent-root", metavar="DIR", help="The agent's directory "
                 "[default: agent_root from the config, else /var/ossec]."),
    click.option("--root", default="/", metavar="DIR", show_default=True,
                 help="Install into this staging tree instead (packagers, tests)."),
]  # fmt: skip


def _with_options(f):
    for option in reversed(_options):
        f = option(f)
    return f


@click.command("install")
@_with_options
@click.option("--group", help="Group owning our executables [default: wazuh or ossec].")
@click.pass_obj
def install(app: object, agent_root: str | None, root: str, group: str | None) -> int:
    """Put firewall-drop into the agent (as firewall-drop.sh for OSSEC and firewall-drop
    for Wazuh, root:<agent group> 0750, backing up what was there), and install the
    expiry job (cron.d and a systemd timer) and the boot-time restore unit."""
    for line in _installer(app, agent_root, root, group).install():
        click.echo(line)
    return 0


@click.command("uninstall")
@_with_options
@click.pass_obj
def uninstall(app: object, agent_root: str | None, root: str) -> int:
    """Undo install: restore the agent's original executables, remove what install
    wrote (files changed since are kept). Blocks and the ledger stay: run `flush` first
    to lift every block."""
    for line in _installer(app, agent_root, root, None).uninstall():
        click.echo(line)
    return 0
