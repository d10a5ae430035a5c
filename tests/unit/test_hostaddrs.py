from __future__ import annotations

import ipaddress
import subprocess

from activeresponse.hostaddrs import interface_addresses


def test_matches_ip_addr() -> None:
    """The netlink dump sees what `ip addr` sees."""
    own, _broadcasts = interface_addresses()
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True).stdout
    expected = set()
    for line in out.splitlines():
        words = line.split()
        if words[2] in ("inet", "inet6"):
            expected.add(ipaddress.ip_interface(words[3]).ip)
    assert own == expected
    assert ipaddress.ip_address("127.0.0.1") in own
