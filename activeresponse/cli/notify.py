"""``activeresponse notify``: test the notification settings, see the spool, send now."""

from __future__ import annotations

import json
import os
import time

import click

from .. import errors
from ..notify import CHANNELS, configured_channels
from .app import App


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def sample_event(now: float) -> dict:
    """An event with every field filled in, marked as a sample."""
    from ..notify.event import EVENT_VERSION, host_fields

    event = {
        "v": EVENT_VERSION,
        "sample": True,
        "kind": "block",
        "action": "blocked",
        "time": now,
        "address": "192.0.2.123",
        "block_id": 0,
        "created": now,
        "expires": now + 600,
        "hits": 1,
        "origin": "wazuh",
        "alert_id": "1714748658.12345",
        "rule_id": "5712",
        "user": "root",
        "location": "/var/log/secure",
        "history": 1,
        "first_seen": now,
        "removed_by": "",
        "source": "log",
        "source_pattern": "rhost=",
        "source_reason": "own",
        "agent_srcip": "198.51.100.1",
        "config_path": "",
        "rule_description": "sshd: brute force trying to get access to the system.",
        "rule_level": "10",
        "groups": ["syslog", "sshd", "authentication_failures"],
        "log": "sshd[1234]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
        "euid=0 tty=ssh ruser= rhost=192.0.2.123  user=root",
        "log_length": 0,
        "srcuser": "",
        "dstuser": "root",
        "agent_name": "",
        "agent_ip": "",
        "alert_time": "",
    }
    from ..hostaddrs import interface_addresses

    try:
        event.update(host_fields(interface_addresses()))
    except OSError:
        event.update(host_fields(None))
    return event


@click.group("notify")
def command() -> None:
    """Notifications of blocks: test the settings, see the spool, send now.

    Events wait in a spool (<state_dir>/notify.sqlite3) until a channel accepts them;
    firewall-drop starts a short background sender, and the periodic run sends the rest.
    """


@command.command("test")
@click.option(
    "--channel",
    "channels",
    type=click.Choice(CHANNELS),
    multiple=True,
    help="Only this channel (repeatable) [default: every configured one].",
)
@click.pass_obj
def test(app: App, channels: tuple[str, ...]) -> int:
    """Send a sample report through the configured channels, now (not spooled)."""
    from ..notify.channels import channel
    from ..notify.render import render
    from ..notify.settings import Settings

    settings = Settings(app.config)
    names = list(channels) or settings.channels
    if not names:
        raise errors.UsageError(
            "no notification channel is configured: set notify_smtp_host and notify_to "
            "(e-mail) or notify_command"
        )
    if not app.config.notify_enabled:
        click.echo("note: notify_enabled is false: blocks are not reported yet", err=True)
    message = render([sample_event(time.time())], settings, now=time.time())
    failed = 0
    for name in names:
        try:
            sent = channel(name, settings).send(message)
        except Exception as exc:
            failed += 1
            click.echo(f"{name}: FAILED: {type(exc).__name__}: {exc}")
        else:
            click.echo(f"{name}: sent ({sent})")
    return errors.FAILURE if failed else errors.OK


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(app: App, as_json: bool) -> int:
    """The spool: pending and sent events per channel, failures and the next retry."""
    from ..notify.deliver import next_due
    from ..notify.spool import Spool

    config = app.config
    info: dict = {
        "enabled": config.notify_enabled,
        "events": config.notify_events,
        "channels": configured_channels(config),
        "spool": config.notify_spool_path,
        "next_due": None,
        "per_channel": {},
        "problem": "",
    }
    try:
        from ..notify.settings import Settings

        Settings(config)
    except errors.ConfigError as exc:
        info["problem"] = str(exc)
    if os.path.exists(config.notify_spool_path):
        with Spool(config.notify_spool_path, create=False) as spool:
            counts = spool.counts()
            states = {s.name: s for s in spool.channels()}
        for name in sorted(set(counts) | set(states)):
            state = states.get(name)
            info["per_channel"][name] = {
                **counts.get(name, {"pending": 0, "sent": 0}),
                "configured": name in info["channels"],
                "last_sent": state.last_sent if state else None,
                "failures": state.failures if state else 0,
                "next_try": state.next_try if state else None,
                "last_error": state.last_error if state else "",
            }
        info["next_due"] = next_due(config)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return errors.OK
    click.echo(f"notifications: {'on' if config.notify_enabled else 'off'}")
    click.echo(f"events:        {', '.join(config.notify_events) or '-'}")
    click.echo(f"channels:      {', '.join(info['channels']) or 'none configured'}")
    click.echo(f"spool:         {config.notify_spool_path}")
    if info["problem"]:
        click.echo(f"problem:       {info['problem']}")
    if not info["per_channel"]:
        click.echo("nothing spooled yet")
    for name, c in info["per_channel"].items():
        line = (
            f"  {name}: {c['pending']} pending, {c['sent']} sent, last sent {_when(c['last_sent'])}"
        )
        if not c["configured"]:
            line += " (channel no longer configured: its pending events wait)"
        click.echo(line)
        if c["failures"]:
            click.echo(
                f"    failed {c['failures']} time(s) in a row; next retry {_when(c['next_try'])}"
                f"; last error: {c['last_error']}"
            )
    if info["next_due"] is not None:
        click.echo(f"next send due: {_when(info['next_due'])}")
    return errors.OK


@command.command("send")
@click.option(
    "--force", is_flag=True, help="Send everything pending now, ignoring digest and retry waits."
)
@click.option(
    "--wait",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a running sender.",
)
@click.pass_obj
def send(app: App, force: bool, wait: float) -> int:
    """Send the pending notifications that are due (what the periodic run does)."""
    from ..notify import deliver

    report = deliver(app.config, force=force, wait=wait)
    if report.busy:
        click.echo("another sender is running and will send what is pending")
        return errors.OK
    for name, kind, count in report.sent:
        click.echo(f"{name}: sent {'a digest of ' if kind == 'digest' else ''}{count} event(s)")
    for name, error, next_try in report.failed:
        click.echo(f"{name}: FAILED ({error}); next retry {_when(next_try)}")
    for name, due in report.waiting.items():
        click.echo(f"{name}: pending events wait until {_when(due)} (digest interval or retry)")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    if not (report.sent or report.failed or report.waiting or report.errors):
        click.echo("nothing to send")
    return errors.OK if report.ok else errors.FAILURE
