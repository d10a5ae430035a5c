"""``firewall-drop``: the agent's executable, for OSSEC 2.x (argv) and Wazuh 4.x (JSON).

Hot path: every alert starts this process, so only the standard library is imported,
and only what the request needs (JSON only for Wazuh, TOML only if a config exists).
"""

from __future__ import annotations

import os
import sys
from ipaddress import ip_network

from . import agentconf, arlog, config, errors, logsetup, protocol
from .addresses import parse_ip, printable
from .errors import ActiveResponseError, InvalidAddress, ProtocolError, Refused
from .logsetup import get_logger

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from typing import BinaryIO, TextIO

    from .addresses import IPNetwork

log = get_logger("activeresponse.agent")


class Reporter:
    """Writes active-responses.log lines in the invoking protocol's format."""

    def __init__(self, path: str, program: str, wazuh: bool) -> None:
        self.log = arlog.ARLog(path)
        self.program = program
        self.wazuh = wazuh

    def call(self, args: list[str]) -> None:
        self.log.write(arlog.ossec_line(self.program, args))

    def message(self, text: str) -> None:
        if self.wazuh:
            self.log.write(arlog.wazuh_line(self.program, text))
        else:
            self.log.write(arlog.ossec_message(self.program, text))


def _timeout(rt, program: str) -> int:
    configured = agentconf.configured_timeout(rt.tree, os.path.basename(program))
    return configured or rt.config.default_timeout


def _execute(rt, request: protocol.Request, network: IPNetwork, program: str, notice: dict) -> None:
    """Carry out a validated request."""
    from . import operations

    if request.action == "add":
        operations.block(
            rt,
            network,
            timeout=_timeout(rt, program),
            origin=request.protocol,
            alert_id=request.alert_id,
            rule_id=request.rule_id,
            user=request.user,
            reason=request.location,
            notice=notice,
            escalate=True,
            agent_repeats=agentconf.agent_repeat_timeouts(rt.tree),
        )
    else:
        operations.unblock(
            rt,
            network,
            removed_by=request.protocol,
            only_origins=operations.AGENT_ORIGINS,
            notice=notice,
        )


def _validated(request: protocol.Request, reporter: Reporter) -> IPNetwork:
    """The request's address as a one-address network, or the agent's own error line."""
    try:
        return ip_network(parse_ip(request.address))
    except InvalidAddress:
        reporter.message(
            f"Unable to run active response (invalid IP: '{printable(request.address, 128)}')."
        )
        raise


def _acceptable(rt, address: str) -> bool:
    try:
        rt.guard.check(ip_network(address))
    except Refused:
        return False
    return True


def _attacker(rt, request: protocol.Request, reporter: Reporter) -> tuple[IPNetwork, dict]:
    """The address to act on, and what the notification says about it.

    Normally the agent's source address. When the agent has none, or gives this host's
    own address (an alert decoded from the messages log), the alert's log line is read
    for the real source (attacker.py): exactly one address that the guard accepts, or
    nothing. The request is updated, so check_keys and the ledger use the address found.
    """
    notice: dict = {"alert": request.alert}
    network = None
    if request.address:
        network = _validated(request, reporter)
        if network.network_address not in rt.host_interfaces()[0]:
            return network, notice  # the normal path: no log parsing, no `re`
    from .attacker import from_log

    found, notes = from_log(protocol.log_line(request.alert), lambda a: _acceptable(rt, a))
    if network is not None:
        why = f"srcip {network.network_address} is this host's own address"
    else:
        why = "srcip is missing"
    if found is None:
        log.info(
            "%s and the log line names no usable address%s",
            why,
            f" ({'; '.join(notes)})" if notes else "",
        )
        if network is None:
            raise ProtocolError("Cannot read 'srcip' from data")
        return network, notice  # the guard refuses it, as it always did
    why += f"; attacker {found.address} taken from the log line ({found.pattern})"
    reporter.message(why)
    log.info("%s", why)
    notice.update(
        source="log",
        source_pattern=found.pattern,
        source_reason="own" if network is not None else "missing",
        agent_srcip=request.address,
    )
    request.address = found.address
    return ip_network(found.address), notice


def run_ossec(rt, reporter: Reporter, program: str, args: list[str]) -> int:
    reporter.call(args)  # OSSEC's script logs the call first, whatever follows
    request = protocol.parse_ossec(args)
    network, notice = _attacker(rt, request, reporter)
    _execute(rt, request, network, program, notice)
    return errors.OK


def run_wazuh(rt, reporter: Reporter, program: str, stdin: BinaryIO, stdout: TextIO) -> int:
    reporter.message("Starting")
    raw = stdin.readline(protocol.MAX_MESSAGE + 1)
    if not raw:
        raise ProtocolError("Cannot read input from stdin")
    reporter.message(raw.decode("utf-8", "surrogateescape").rstrip("\r\n"))
    request = protocol.parse_wazuh(protocol.decode_message(raw))
    network, notice = _attacker(rt, request, reporter)
    if request.action == "add":
        keys = protocol.check_keys_message(program, [request.address])
        reporter.message(keys)
        stdout.write(keys + "\n")
        stdout.flush()
        answer_raw = stdin.readline(protocol.MAX_MESSAGE + 1)
        if not answer_raw:
            raise ProtocolError("Cannot read input from stdin", "no answer to check_keys")
        reporter.message(answer_raw.decode("utf-8", "surrogateescape").rstrip("\r\n"))
        if protocol.decode_answer(answer_raw) == "abort":
            reporter.message(f"Aborted: {request.address} is already being handled by execd")
            reporter.message("Ended")
            return errors.OK
    _execute(rt, request, network, program, notice)
    reporter.message("Ended")
    return errors.OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    program = argv[0] if argv else "firewall-drop"
    wazuh = protocol.is_wazuh_invocation(argv)
    os.umask(0o027)
    tree = agentconf.tree_of_executable(program)
    reporter: Reporter | None = None
    rt = None
    try:
        cfg = config.load()
        logsetup.configure(cfg.log_file, cfg.log_level)
        if tree is None and cfg.agent_root:
            tree = agentconf.AgentTree(cfg.agent_root)
        reporter = Reporter(tree.ar_log if tree else cfg.ar_log_file, program, wazuh)
        from .operations import Runtime

        rt = Runtime(cfg, program)
        if wazuh:
            return run_wazuh(rt, reporter, program, sys.stdin.buffer, sys.stdout)
        return run_ossec(rt, reporter, program, argv[1:])
    except ActiveResponseError as exc:
        message = exc.log_message if isinstance(exc, ProtocolError) else str(exc)
        if reporter is not None and not isinstance(exc, InvalidAddress):
            reporter.message(message)
        log.warning("%s", exc)
        print(f"{os.path.basename(program)}: {arlog.escape(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, not a user mistake: full trace to our log only
        log.exception("internal error")
        if reporter is not None:
            reporter.message(f"Internal error: {type(exc).__name__}")
        print(
            f"{os.path.basename(program)}: internal error ({type(exc).__name__}); "
            "see the activeresponse log",
            file=sys.stderr,
        )
        return errors.FAILURE
    finally:
        if rt is not None:
            rt.close()
        if reporter is not None and reporter.log.error is not None:
            log.warning("cannot write %s: %s", reporter.log.path, reporter.log.error)


if __name__ == "__main__":
    sys.exit(main())
