"""``activeresponse``: the admin's command line (click).

One root group, one module per command, an :class:`App` object in the click context.
Every error is one line on stderr with the documented exit code, never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__, errors, logsetup
from .app import App


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from . import demo, notify

    for module in (demo, notify):
        cli.add_command(module.command)


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
    return result if isinstance(result, int) else errors.OK
