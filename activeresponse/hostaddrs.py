"""The host's own interface addresses, read fresh from the kernel over rtnetlink.

One RTM_GETADDR dump costs well under a millisecond and needs no extra process or
package, so every invocation sees addresses added after the agent started.
"""

from __future__ import annotations

# The C module: socket.py's enum conversions cost milliseconds of the agent's start-up.
import _socket
import ipaddress
import os
import struct

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPAddress


_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_BROADCAST = 4

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type


def _align(n: int) -> int:
    return (n + 3) & ~3


def _addresses_from_dump(data: bytes) -> tuple[set[IPAddress], set[IPAddress], bool]:
    """Parse rtnetlink RTM_NEWADDR messages; return (addresses, broadcasts, done)."""
    found: set[IPAddress] = set()
    broadcasts: set[IPAddress] = set()
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        if mtype == _NLMSG_DONE:
            return found, broadcasts, True
        if mtype == _NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
            raise OSError(-errno, os.strerror(-errno))
        if mtype == _RTM_NEWADDR:
            family = data[offset + _NLMSGHDR.size]
            attrs: dict[int, bytes] = {}
            pos = offset + _NLMSGHDR.size + _IFADDRMSG.size
            end = offset + length
            while pos + _RTATTR.size <= end:
                alen, atype = _RTATTR.unpack_from(data, pos)
                if alen < _RTATTR.size:
                    break
                attrs[atype] = data[pos + _RTATTR.size : pos + alen]
                pos += _align(alen)
            size = 4 if family == _socket.AF_INET else 16
            # IFA_LOCAL is the local end of a point-to-point link; IFA_ADDRESS is then the
            # peer. Without IFA_LOCAL (IPv6, ordinary links) IFA_ADDRESS is our address.
            for key, into in (
                (_IFA_LOCAL if _IFA_LOCAL in attrs else _IFA_ADDRESS, found),
                (_IFA_BROADCAST, broadcasts),
            ):
                raw = attrs.get(key)
                if raw is not None and len(raw) == size:
                    into.add(ipaddress.ip_address(raw))
        offset += _align(length)
    return found, broadcasts, False


def interface_addresses() -> tuple[set[IPAddress], set[IPAddress]]:
    """This host's interface addresses, and the IPv4 broadcast addresses of its links."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, _socket.NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        request = _NLMSGHDR.pack(
            _NLMSGHDR.size + _IFADDRMSG.size, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        ) + _IFADDRMSG.pack(_socket.AF_UNSPEC, 0, 0, 0, 0)
        sock.sendall(request)
        found: set[IPAddress] = set()
        broadcasts: set[IPAddress] = set()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return found, broadcasts
            addrs, bcasts, done = _addresses_from_dump(chunk)
            found |= addrs
            broadcasts |= bcasts
            if done:
                return found, broadcasts
    finally:
        sock.close()
