"""``activeresponse``: the admin's command line (click).

One root group, one module per command, an :class:`App` object in the click context.
Every error is one line on stderr with the documented exit code, never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__, errors, logsetup
from .app import App


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order they are registered: most used first


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="ACTIVERESPONSE_CONFIG",
    help="Configuration file [default: /etc/activeresponse/config.toml].",
)
@click.option("-v", "--verbose", is_flag=True, help="Show debug messages on stderr.")
@click.version_option(__version__, prog_name="activeresponse")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Firewall active response for OSSEC/Wazuh agents: see, lift and make blocks.

    Safe while the agent runs: every change shares one lock with the agent's
    firewall-drop. Exit codes: 0 done, 1 failure, 2 usage error, 3 refused by the guard.
    """
    if verbose:
        logsetup.configure(stderr=True)
    ctx.obj = App(config_path)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from . import (
        agent_logs,
        allow,
        block,
        bulk,
        delete,
        demo,
        flush,
        install_cmd,
        listing,
        migrate,
        mode,
        notify,
        status,
        sweep,
        unblock,
    )

    for command in (
        status.command,
        listing.command,
        delete.command,
        unblock.command,
        block.command,
        allow.command,
        flush.command,
        bulk.import_,
        bulk.export,
        migrate.command,
        sweep.expire,
        sweep.restore,
        mode.command,
        install_cmd.install,
        install_cmd.uninstall,
        agent_logs.command,
        demo.command,
        notify.command,
    ):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="activeresponse", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("activeresponse: aborted", err=True)
        return errors.FAILURE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except errors.ActiveResponseError as exc:
        click.echo(f"activeresponse: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("activeresponse: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug, not a user mistake: the trace goes to our log only
        logsetup.get_logger("activeresponse.cli").exception("internal error")
        click.echo(f"activeresponse: internal error ({type(exc).__name__}: {exc}); "
                   "details in the activeresponse log", err=True)  # fmt: skip
        return errors.FAILURE
    return result if isinstance(result, int) else errors.OK
