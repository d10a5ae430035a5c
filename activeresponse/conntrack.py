"""Ending a newly blocked address's open connections.

A DROP rule stops new connections, but wherever a ruleset accepts ESTABLISHED traffic
before our rules (Plesk's does, so do many hand-made rulesets), a connection the
attacker already had goes on. Deleting its conntrack entries makes its next packet a
new, blocked one. Config ``kill_connections`` (on by default).
"""

from __future__ import annotations

from .logsetup import get_logger
from .runner import run, which

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPNetwork

log = get_logger(__name__)


def forget(net: IPNetwork) -> int | None:
    """Delete the conntrack entries whose source is in ``net``; returns how many, or None
    when the conntrack tool is not installed."""
    if which("conntrack") is None:
        log.debug("conntrack not installed: open connections of %s are left to time out", net)
        return None
    argv = ["conntrack", "-D", "-f", "ipv6" if net.version == 6 else "ipv4",
            "-s", str(net.network_address)]  # fmt: skip
    if net.prefixlen != net.max_prefixlen:
        argv += ["--mask-src", str(net.netmask)]
    done = run(argv, check=False)  # exit 1 means "0 entries": not an error
    words = done.stderr.split()
    count = int(words[words.index("flow") - 1]) if "flow" in words else 0
    if done.returncode not in (0, 1):
        log.warning("conntrack -D for %s failed: %s", net, done.stderr.strip())
    elif count:
        log.debug("ended %d open connection(s) of %s", count, net)
    return count
