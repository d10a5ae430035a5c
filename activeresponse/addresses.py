"""Strict parsing and normalisation of IP literals and networks.

Input reaches us from attackers (through the agent) and from admins. Only plain IP
literals are accepted: no hostnames, zone ids, octal/hex or shortened IPv4 forms, and
no leading zeros in IPv4 parts (``010.1.1.1`` is 8.1.1.1 to inet_aton but 10.1.1.1 to a
human, so it is refused as ambiguous). IPv4-mapped IPv6 (``::ffff:a.b.c.d``) becomes IPv4.
"""

from __future__ import annotations

import ipaddress

from .errors import InvalidAddress

# Type aliases for annotations only: `typing` costs the agent's start-up ~2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Longest literal we accept: a full IPv6 with embedded IPv4 is 45 chars, plus "/128".
MAX_TEXT = 49
_HEX = frozenset("0123456789abcdefABCDEF")
_IPV4_CHARS = frozenset("0123456789.")
_IPV6_CHARS = _HEX | frozenset(":.")


def printable(text: object, limit: int = 64) -> str:
    """A short, one-line, escaped rendering of untrusted input for messages."""
    s = text if isinstance(text, str) else repr(text)
    if len(s) > limit:
        s = s[:limit] + "..."
    return s.encode("unicode_escape").decode("ascii").replace("'", "\\'")


def _parse_ipv4(text: str) -> ipaddress.IPv4Address:
    parts = text.split(".")
    if len(parts) != 4 or not all(parts):
        raise InvalidAddress(f"not an IP address: '{printable(text)}'")
    value = 0
    for part in parts:
        if len(part) > 1 and part[0] == "0":
            raise InvalidAddress(f"ambiguous IPv4 address (leading zero): '{printable(text)}'")
        octet = int(part) if len(part) <= 3 else 256
        if octet > 255:
            raise InvalidAddress(f"not an IP address: '{printable(text)}'")
        value = value << 8 | octet
    return ipaddress.IPv4Address(value)  # from the int: imports parse 100,000 of these


def parse_ip(text: str) -> IPAddress:
    """Parse one IP literal strictly and return it normalised (mapped IPv6 -> IPv4)."""
    if not isinstance(text, str) or not text:
        raise InvalidAddress(f"not an IP address: '{printable(text)}'")
    if len(text) > MAX_TEXT:
        raise InvalidAddress(f"not an IP address (too long): '{printable(text)}'")
    if set(text) <= _IPV4_CHARS:
        return _parse_ipv4(text)
    if ":" not in text or not set(text) <= _IPV6_CHARS:
        # Hostnames, zone ids (%eth0), CIDR, whitespace, options, shell metacharacters.
        raise InvalidAddress(f"not an IP address: '{printable(text)}'")
    if "." in text:
        # An embedded dotted quad must itself be strict.
        _parse_ipv4(text.rsplit(":", 1)[1])
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        raise InvalidAddress(f"not an IP address: '{printable(text)}'") from None
    mapped = addr.ipv4_mapped
    return mapped if mapped is not None else addr


def parse_network(text: str) -> IPNetwork:
    """Parse an IP literal or a CIDR (``a.b.c.d/n``, ``x::/n``), strictly.

    Host bits must be zero (``192.0.2.1/24`` is refused, it is ambiguous).
    A mapped IPv6 network is refused unless it is a single address.
    """
    if not isinstance(text, str) or "/" not in text:
        addr = parse_ip(text)
        kind = ipaddress.IPv4Network if addr.version == 4 else ipaddress.IPv6Network
        return kind((int(addr), addr.max_prefixlen))
    addr_text, _, prefix_text = text.partition("/")
    addr = parse_ip(addr_text)
    if not prefix_text.isdigit() or (len(prefix_text) > 1 and prefix_text[0] == "0"):
        raise InvalidAddress(f"not a network prefix: '{printable(text)}'")
    prefix = int(prefix_text)
    if ":" in addr_text and addr.version == 4:
        # ::ffff:a.b.c.d/n: only meaningful for a single address.
        if prefix != 128:
            raise InvalidAddress(f"mapped IPv6 network not supported: '{printable(text)}'")
        prefix = 32
    try:
        return ipaddress.ip_network(f"{addr}/{prefix}", strict=True)
    except ValueError as exc:
        raise InvalidAddress(f"not a network: '{printable(text)}' ({exc})") from None


def network_text(net: IPNetwork) -> str:
    """Canonical text: a bare address for a single host, else ``addr/prefix``."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)
