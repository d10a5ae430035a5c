"""Typed errors. Every failure the tool reports is one of these, with its exit code.

Exit codes (design.md section 6): 0 done or nothing to do, 1 failure (firewall or I/O),
2 usage error (bad input or configuration), 3 refused by the guard.
"""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
REFUSED = 3


class ActiveResponseError(Exception):
    """Base class: ``str(error)`` is the one line shown to the user."""

    exit_code = FAILURE


class UsageError(ActiveResponseError):
    """The caller asked for something malformed (argv, JSON, option)."""

    exit_code = USAGE


class InvalidAddress(UsageError):
    """The text is not an acceptable IP literal (or CIDR, where one is allowed)."""


class ProtocolError(UsageError):
    """An agent message that does not follow the OSSEC or Wazuh protocol.

    ``log_message`` is the exact text the agent's own script would log.
    """

    def __init__(self, log_message: str, detail: str = "") -> None:
        super().__init__(f"{log_message}{': ' + detail if detail else ''}")
        self.log_message = log_message


class ConfigError(UsageError):
    """The configuration file is missing, malformed or unsafe."""


class Refused(ActiveResponseError):
    """The guard refused the address: it must never be blocked."""

    exit_code = REFUSED


class FirewallError(ActiveResponseError):
    """The kernel (or the firewall tool) refused a change or could not be read."""


class CommandError(FirewallError):
    """An external command failed; carries what is needed to diagnose it."""

    def __init__(self, argv: list[str], returncode: int | None, stderr: str) -> None:
        first = stderr.strip().splitlines()[0] if stderr.strip() else ""
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{argv[0]} {status}{': ' + first if first else ''}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class LockTimeout(ActiveResponseError):
    """Another activeresponse process held the lock longer than the configured wait."""


class StateError(ActiveResponseError):
    """The ledger or another state file cannot be read or written."""
