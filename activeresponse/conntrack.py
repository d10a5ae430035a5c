"""Ending a newly blocked address's open connections.

A DROP rule stops new connections, but wherever a ruleset accepts ESTABLISHED traffic
before our rules (Plesk's does, so do many hand-made rulesets), a connection the
attacker already had goes on. Deleting its conntrack entries makes its next packet a
new, blocked one. Config ``kill_connections`` (on by default).
"""

from __future__ import annotations

from .logsetup import get_logger
from .runner import spawn_detached, which

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPNetwork

log = get_logger(__name__)


def forget(net: IPNetwork) -> bool:
    """Delete the conntrack entries whose source is in ``net``, in a detached process:
    ``conntrack -D`` takes about 10 ms, a third of an agent call, and nothing waits for
    its result. False when the conntrack tool is not installed."""
    if which("conntrack") is None:
        log.debug("conntrack not installed: open connections of %s are left to time out", net)
        return False
    argv = ["conntrack", "-D", "-f", "ipv6" if net.version == 6 else "ipv4",
            "-s", str(net.network_address)]  # fmt: skip
    if net.prefixlen != net.max_prefixlen:
        argv += ["--mask-src", str(net.netmask)]
    spawn_detached(argv)
    return True
