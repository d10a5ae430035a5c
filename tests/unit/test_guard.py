from __future__ import annotations

import ipaddress

import pytest

from activeresponse.errors import Refused
from activeresponse.guard import Guard

net = ipaddress.ip_network
ip = ipaddress.ip_address


def make_guard(**kw: object) -> Guard:
    defaults: dict = dict(
        allowlist=[net("198.51.100.0/28"), net("2001:db8:aa::/48")],
        managers={ip("203.0.113.50")},
        interfaces=lambda: ({ip("192.0.2.1"), ip("2001:db8:1::1")}, {ip("192.0.2.255")}),
    )
    defaults.update(kw)
    return Guard(**defaults)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("203.0.113.50", "manager"),
        ("198.51.100.5", "allowlisted"),
        ("2001:db8:aa::5", "allowlisted"),
        ("192.0.2.1", "own address"),
        ("2001:db8:1::1", "own address"),
        ("192.0.2.255", "broadcast"),
        ("10.0.0.0/16", "wider"),
        ("2001:db8::/32", "wider"),
        ("203.0.113.0/24", "manager"),
        ("198.51.100.0/24", "allowlisted"),
        ("192.0.2.0/24", "own address"),
    ],
)
def test_refusals(target: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        make_guard().check(net(target))


def test_allowed() -> None:
    g = make_guard()
    for target in ("192.0.2.7", "2001:db8::7", "198.51.100.16", "198.51.100.128/25"):
        g.check(net(target))


def test_width_needs_force() -> None:
    g = make_guard()
    with pytest.raises(Refused, match="wider"):
        g.check(net("10.0.0.0/8"))
    g.check(net("10.0.0.0/8"), force_width=True)
    with pytest.raises(Refused, match="loopback"):
        g.check(net("127.0.0.0/8"), force_width=True)  # force never lifts the hard rules


def test_temporary_allows() -> None:
    with pytest.raises(Refused, match="allowed by `activeresponse allow`"):
        make_guard().check(net("192.0.2.7"), temporary_allows=[net("192.0.2.7/32")])


def test_interfaces_read_lazily_and_fresh() -> None:
    calls = []

    def interfaces() -> tuple[set, set]:
        calls.append(1)
        return ({ip("192.0.2.1")} if len(calls) > 1 else set()), set()

    g = make_guard(interfaces=interfaces)
    with pytest.raises(Refused):
        g.check(net("127.0.0.1"))
    assert calls == []  # refused before asking the kernel
    g.check(net("192.0.2.1"))
    with pytest.raises(Refused, match="own address"):
        g.check(net("192.0.2.1"))  # the address appeared since the last call
