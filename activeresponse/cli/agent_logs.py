"""``activeresponse agent-logs``: the ``<localfile>`` blocks an OSSEC/Wazuh agent should
have on this host (login, mail, system and web logs; every Plesk domain's vhost logs),
printed, or merged into an ossec.conf (``--merge``)."""

from __future__ import annotations

import json

import click


@click.command("agent-logs")
@click.option(
    "--merge",
    "merge_path",
    metavar="PATH",
    help="Add the missing blocks to this ossec.conf (backup first; nothing else changes).",
)
@click.option(
    "--root",
    default="/",
    show_default=True,
    metavar="DIR",
    help="Look for the logs and Plesk under DIR (a chroot, or a test tree).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(merge_path: str | None, root: str, as_json: bool) -> int:
    """Print the <localfile> blocks for the logs an agent should monitor here.

    Login, mail and system logs (log_format syslog) and web logs (apache) under this
    distribution's names, those that exist; on Plesk, every domain's vhost logs in the
    layout of its version. With --merge PATH, insert the blocks PATH does not have yet
    before its last </ossec_config>, after a timestamped backup; run it again and it
    adds nothing. Restart the agent afterwards.
    """
    from plesk.logpaths import agent_logs

    info, logs = agent_logs(root)
    if merge_path is None:
        if as_json:
            payload = {
                "plesk": info.describe() if info.present else None,
                "logs": [log.as_dict() for log in logs],
            }
            click.echo(json.dumps(payload, indent=2))
        else:
            about = f"{info.describe()}; {len(logs)} log(s)".replace("--", "- -")
            click.echo(f"<!-- {about} -->")
            for log in logs:
                click.echo(log.block(), nl=False)
        return 0

    from plesk.ossec_merge import merge_file

    result = merge_file(merge_path, logs)
    if as_json:
        payload = {
            "path": merge_path,
            "backup": result.backup,
            "added": [log.as_dict() for log in result.added],
            "skipped": [log.location for log in result.skipped],
        }
        click.echo(json.dumps(payload, indent=2))
    elif result.added:
        click.echo(
            f"added {len(result.added)} <localfile> block(s) to {merge_path} "
            f"(backup: {result.backup}); restart the agent to monitor them:"
        )
        for log in result.added:
            click.echo(f"  {log.location} ({log.log_format})")
    else:
        click.echo(f"nothing to add: {merge_path} already monitors all {len(logs)} log(s)")
    return 0
