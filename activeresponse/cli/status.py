"""``activeresponse status``: is everything in place, and does the kernel hold what the
ledger says? Exits 1 when something needs attention."""

from __future__ import annotations

import os

import click

from .. import ossecconf
from ..backends.base import FAMILIES
from ..durations import format_duration, iso_utc, local_time
from ..errors import ActiveResponseError
from .common import now, print_json

# The sweep runs every minute; three missed runs mean cron/the timer is not working.
STALE_AFTER = 180


def agent_mode(tree: object) -> tuple[str, str]:
    path = getattr(tree, "ossec_conf", None)
    if not path or not os.path.isfile(path):
        return "unknown", "no OSSEC/Wazuh agent configuration found"
    return ossecconf.current_mode(ossecconf.read(path)), path


class Status:
    """Everything ``status`` reports, gathered once."""

    def __init__(self, app: object) -> None:
        rt = app.runtime  # type: ignore[attr-defined]
        self.now = t = now()
        ledger = rt.ledger
        active = ledger.active()
        live = [b for b in active if not b.expired(t)]
        self.active = len(active)
        self.due = len(active) - len(live)
        self.next_expiry = ledger.next_expiry()
        self.backend: str | None = None
        self.safeguards: bool | None = None
        self.drift: list[str] | None = None
        self.attention: list[str] = []
        self.auto_reason: str | None = None
        try:
            backend = rt.backend
            self.backend = backend.describe()
            if rt.config.backend == "auto":
                from ..backends import auto_choice

                self.auto_reason = auto_choice(rt.config, ledger.get_meta("auto_backend"))[1]
            in_kernel = ledger.get_meta("backend")
            if in_kernel and in_kernel != backend.name:
                self.attention.append(
                    f"the blocks are still enforced by the {in_kernel} backend: the next "
                    f"expiry sweep moves them to {backend.name} (or run activeresponse restore)"
                )
            state = backend.read(FAMILIES)
            self.safeguards = backend.safeguards_ok(state)
            self.drift = backend.plan_sync(state, live, FAMILIES).actions
        except ActiveResponseError as exc:
            self.attention.append(f"cannot read the firewall: {exc}")
        if self.safeguards is False:
            self.attention.append("the localhost safeguards or our jump are not in place")
        if self.drift:
            self.attention.append(f"kernel and ledger disagree ({len(self.drift)} repair(s))")
        last = ledger.get_meta("last_expire")
        self.last_expire = float(last) if last else None
        timed = [b.created for b in active if b.expires is not None]
        waiting_since = self.last_expire or (min(timed) if timed else t)
        if timed and waiting_since < t - STALE_AFTER:
            self.attention.append(
                "the expiry sweep has not run for over 3 minutes: is the cron job or "
                "activeresponse-expire.timer installed? (activeresponse install)"
            )
        self.mode, self.mode_source = agent_mode(rt.tree)
        from plesk.detect import detect

        self.plesk = detect(rt.config.plesk_root, ask_cli=False).describe()
        self.allow_entries = len(ledger.active_allows(t)) + len(rt.config.allowlist)
        self.config = app.config.source  # type: ignore[attr-defined]
        if self.drift:
            self.attention.append("run `activeresponse expire` to repair")

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "auto": self.auto_reason,
            "safeguards": self.safeguards,
            "active_blocks": self.active,
            "due_blocks": self.due,
            "next_expiry": iso_utc(self.next_expiry),
            "drift": self.drift,
            "plesk": self.plesk,
            "mode": self.mode,
            "mode_source": self.mode_source,
            "last_expire": iso_utc(self.last_expire),
            "allow_entries": self.allow_entries,
            "config": self.config,
            "attention": self.attention,
        }

    def lines(self) -> list[tuple[str, str]]:
        t = self.now
        blocks = f"{self.active} active"
        if self.due:
            blocks += f", {self.due} due for the next sweep"
        if self.drift is None:
            kernel = "unknown"
        else:
            kernel = "agrees with the ledger" if not self.drift else f"DRIFT ({len(self.drift)})"
        sweep = "never ran"
        if self.last_expire:
            ago = format_duration(t - self.last_expire)
            sweep = f"last run {local_time(self.last_expire)} ({ago} ago)"
        return [
            ("backend", (self.backend or "unavailable")
             + (f" (auto: {self.auto_reason})" if self.auto_reason else "")),
            ("safeguards", {True: "in place", False: "MISSING", None: "unknown"}[self.safeguards]),
            ("blocks", blocks),
            ("next expiry", "none" if self.next_expiry is None else
             f"{local_time(self.next_expiry)} (in {format_duration(self.next_expiry - t)})"),
            ("kernel", kernel),
            ("mode", f"{self.mode.upper()} ({self.mode_source})"),
            ("plesk", self.plesk),
            ("expiry sweep", sweep),
            ("allow entries", str(self.allow_entries)),
            ("config", self.config),
        ]  # fmt: skip


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def command(app: object, as_json: bool) -> int:
    """Backend, safeguards, blocks, next expiry, IDS/IPS mode, and whether the kernel
    agrees with the ledger. Exit 1 when something needs attention."""
    status = Status(app)
    if as_json:
        print_json(status.as_dict())
    else:
        for key, value in status.lines():
            click.echo(f"{key + ':':14} {value}")
        for action in status.drift or []:
            click.echo(f"  drift: {action}")
        for problem in status.attention:
            click.echo(f"ATTENTION: {problem}", err=True)
    return 1 if status.attention else 0
