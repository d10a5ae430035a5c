"""A thin typed wrapper over the Plesk Firewall CLI (``plesk ext firewall`` on Plesk 17+,
``<product root>/bin/modules/firewall/settings`` before; same verbs).

Verbs: ``--list-json`` (every rule: ``id``, ``class``, ``name``, ``direction``, ``action``,
``ports``, ``from``), ``--set-rule -name N -direction input|forward -action allow|deny
[-remote-addresses 'IP,CIDR,...'] [-id N]`` (``-id``: update that rule), ``--remove-rule
-id N``, ``--apply [-auto-confirm-this-may-lock-me-out-of-the-server]``, ``--confirm``.
A manual apply without ``--confirm`` within 60 s rolls back, hence the auto-confirm
flag for unattended use. Two applies cannot overlap: the second one fails, which we
report as :class:`ApplyBusy` so the caller can wait and try again.

The argv builders are pure (the backend's plans are made of them); the ``run``-ing
methods go through :func:`activeresponse.runner.run` and turn a failure into a
:class:`PleskFirewallError` carrying the CLI's own one-line message.
"""

from __future__ import annotations

from activeresponse.errors import CommandError, FirewallError
from activeresponse.runner import run

AUTO_CONFIRM = "-auto-confirm-this-may-lock-me-out-of-the-server"
DIRECTIONS = ("input", "forward", "output")
ACTIONS = ("allow", "deny")
CALL_TIMEOUT = 120.0
APPLY_TIMEOUT = 600.0
# How the CLI says that another apply is running (wording differs between versions).
_BUSY_WORDS = ("in progress", "already running", "is running", "another apply", "locked")


class PleskFirewallError(CommandError):
    """The Plesk Firewall CLI refused or failed; ``str()`` carries its own message.

    A :class:`CommandError`, so ``operations.apply_change`` reads the rules again and
    re-plans once (an admin may have removed or edited a rule of ours meanwhile)."""

    def __init__(
        self, message: str, argv: list[str] | None = None, output: str = "", code: int = 1
    ) -> None:
        FirewallError.__init__(self, message)
        self.argv = argv or []
        self.returncode = code
        self.stderr = output
        self.output = output


class ApplyBusy(PleskFirewallError):
    """Another apply (ours from another process, or an admin's) is running."""


class FirewallRule:
    """One rule as ``--list-json`` shows it. ``remote`` holds the ``from`` addresses as
    printed (IPs or CIDRs); an empty ``remote`` means *every* address."""

    __slots__ = ("action", "cls", "direction", "id", "name", "ports", "remote")

    def __init__(
        self,
        id: str,
        name: str,
        direction: str,
        action: str,
        remote: list[str] | None = None,
        ports: list[str] | None = None,
        cls: str = "custom",
    ) -> None:
        self.id = id
        self.name = name
        self.direction = direction
        self.action = action
        self.remote = list(remote or [])
        self.ports = list(ports or [])
        self.cls = cls

    @classmethod
    def from_json(cls, obj: object) -> FirewallRule:
        if not isinstance(obj, dict) or "id" not in obj:
            raise PleskFirewallError(f"unexpected rule in --list-json output: {obj!r:.120}")
        remote = obj.get("from", obj.get("remote-addresses", obj.get("remoteAddresses")))
        return cls(
            id=str(obj["id"]),
            name=str(obj.get("name") or ""),
            direction=str(obj.get("direction") or ""),
            action=str(obj.get("action") or ""),
            remote=_words(remote),
            ports=_words(obj.get("ports")),
            cls=str(obj.get("class") or ""),
        )

    def sort_key(self) -> tuple[int, str]:
        return (int(self.id), self.id) if self.id.isdigit() else (1 << 62, self.id)

    def __repr__(self) -> str:
        return (
            f"FirewallRule(id={self.id}, {self.name!r}, {self.direction} {self.action}, "
            f"{len(self.remote)} addresses)"
        )


def _words(value: object) -> list[str]:
    """A list of strings from a JSON list, or from a comma/space separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.replace(",", " ").split()
    else:
        raise PleskFirewallError(f"unexpected address list in --list-json output: {value!r}")
    return [str(x).strip() for x in items if str(x).strip()]


def parse_list_json(text: str) -> list[FirewallRule]:
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PleskFirewallError(f"--list-json printed no JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("rules"), list):
        data = data["rules"]
    if not isinstance(data, list):
        raise PleskFirewallError("--list-json did not print a list of rules")
    return [FirewallRule.from_json(obj) for obj in data]


def error_message(output: str, fallback: str) -> str:
    """The CLI's own reason: the last line that says something, without ANSI noise."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.lower().startswith(("usage", "exit status")):
            return line[:300]
    return fallback


class FirewallCLI:
    """``argv`` is the CLI prefix from detection, e.g. ``["/usr/sbin/plesk", "ext",
    "firewall"]`` or ``["/usr/local/psa/bin/modules/firewall/settings"]``."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = list(argv)

    # -- pure argv builders ---------------------------------------------------------------

    def set_rule_argv(
        self,
        name: str,
        direction: str,
        action: str,
        remote_addresses: list[str],
        rule_id: str | None = None,
    ) -> list[str]:
        if direction not in DIRECTIONS or action not in ACTIONS:
            raise ValueError(f"bad direction/action {direction!r}/{action!r}")
        if not name or any(c in name for c in "\n\r'\""):
            raise ValueError(f"bad rule name {name!r}")
        argv = [*self.argv, "--set-rule"]
        if rule_id is not None:
            argv += ["-id", str(rule_id)]
        argv += ["-name", name, "-direction", direction, "-action", action]
        if remote_addresses:
            argv += ["-remote-addresses", ",".join(remote_addresses)]
        return argv

    def remove_rule_argv(self, rule_id: str) -> list[str]:
        return [*self.argv, "--remove-rule", "-id", str(rule_id)]

    def apply_argv(self, auto_confirm: bool = True) -> list[str]:
        return [*self.argv, "--apply", *([AUTO_CONFIRM] if auto_confirm else [])]

    # -- running --------------------------------------------------------------------------

    def call(self, argv: list[str], timeout: float = CALL_TIMEOUT) -> str:
        """Run one CLI command; its stdout, or :class:`PleskFirewallError`."""
        verb = next((a for a in argv[len(self.argv) :] if a.startswith("--")), argv[0])
        try:
            done = run(argv, timeout=timeout, check=False)
        except CommandError as exc:  # could not start, or timed out
            raise PleskFirewallError(f"Plesk firewall {verb}: {exc}", argv) from None
        if done.returncode != 0:
            output = done.stderr + "\n" + done.stdout
            reason = error_message(output, f"exited {done.returncode}")
            kind = ApplyBusy if _is_busy(verb, output) else PleskFirewallError
            message = f"Plesk firewall {verb} failed: {reason}"
            raise kind(message, argv, output, done.returncode)
        return done.stdout

    def list_rules(self) -> list[FirewallRule]:
        return parse_list_json(self.call([*self.argv, "--list-json"]))

    def set_rule(
        self,
        name: str,
        direction: str,
        action: str,
        remote_addresses: list[str],
        rule_id: str | None = None,
    ) -> None:
        """Create the rule (no ``rule_id``) or update rule ``rule_id``. An empty
        ``remote_addresses`` means every address: callers must mean it."""
        self.call(self.set_rule_argv(name, direction, action, remote_addresses, rule_id))

    def remove_rule(self, rule_id: str) -> None:
        self.call(self.remove_rule_argv(rule_id))

    def apply(self, auto_confirm: bool = True) -> None:
        """Rebuild the kernel's rules from Plesk's configuration (seconds)."""
        self.call(self.apply_argv(auto_confirm), timeout=APPLY_TIMEOUT)

    def confirm(self) -> None:
        self.call([*self.argv, "--confirm"])


def _is_busy(verb: str, output: str) -> bool:
    lowered = output.lower()
    return verb == "--apply" and any(w in lowered for w in _BUSY_WORDS)
