"""Addresses an admin would lock themselves out with: the SSH session they are typing
in, and the default gateway. ``activeresponse block`` refuses these without --force."""

from __future__ import annotations

import contextlib
import ipaddress
import os

from .addresses import parse_ip
from .errors import InvalidAddress

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPAddress


def _ssh_peer(environ: bytes) -> str | None:
    for entry in environ.split(b"\0"):
        for key in (b"SSH_CONNECTION=", b"SSH_CLIENT="):
            if entry.startswith(key):
                words = entry[len(key) :].split()
                if words:
                    return words[0].decode("ascii", "replace")
    return None


def ssh_session_addresses(pid: int | None = None) -> set[IPAddress]:
    """The client address of the SSH session this process runs in. sudo drops
    SSH_CONNECTION from the environment, so the ancestors' environments are read too."""
    found: set[IPAddress] = set()
    for key in ("SSH_CONNECTION", "SSH_CLIENT"):
        value = os.environ.get(key, "").split()
        if value:
            _add(found, value[0])
    pid = os.getppid() if pid is None else pid
    for _ in range(32):  # bounded walk up the process tree
        if pid <= 1:
            break
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                peer = _ssh_peer(fh.read())
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            break
        if peer:
            _add(found, peer)
        # Fields after the command name (which may contain spaces) start at the last ')'.
        pid = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return found


def default_gateways() -> set[IPAddress]:
    """IPv4 and IPv6 default gateways from /proc (no process needed)."""
    found: set[IPAddress] = set()
    try:
        with open("/proc/net/route") as fh:
            for line in fh.readlines()[1:]:
                f = line.split()
                if len(f) > 3 and f[1] == "00000000" and f[2] != "00000000":
                    found.add(ipaddress.IPv4Address(int(f[2], 16).to_bytes(4, "little")))
    except OSError:
        pass
    try:
        with open("/proc/net/ipv6_route") as fh:
            for line in fh:
                f = line.split()
                if len(f) > 4 and f[0] == "0" * 32 and f[1] == "00" and f[4] != "0" * 32:
                    found.add(ipaddress.IPv6Address(bytes.fromhex(f[4])))
    except OSError:
        pass
    return found


def _add(found: set[IPAddress], text: str) -> None:
    with contextlib.suppress(InvalidAddress):
        found.add(parse_ip(text))


def protected(force: bool) -> dict[IPAddress, str]:
    """What an admin's block must not hit unless forced, with the reason to show."""
    if force:
        return {}
    found: dict[IPAddress, str] = {a: "the default gateway" for a in default_gateways()}
    found.update({a: "your SSH session's address" for a in ssh_session_addresses()})
    return found
