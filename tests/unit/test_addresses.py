from __future__ import annotations

import ipaddress

import pytest

from activeresponse.addresses import network_text, parse_ip, parse_network
from activeresponse.errors import InvalidAddress


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("0.0.0.0", "0.0.0.0"),
        ("2001:DB8::7", "2001:db8::7"),
        ("2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8::7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::FFFF:c000:0207", "192.0.2.7"),
        ("::1", "::1"),
    ],
)
def test_accepts_and_normalises(text: str, expected: str) -> None:
    assert str(parse_ip(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 192.0.2.7",
        "192.0.2.7 ",
        "192.0.2.7\n",
        "192.0.2",
        "192.0.2.7.1",
        "192.0.2.256",
        "192.0.2.07",
        "010.0.0.1",
        "0x7f.0.0.1",
        "3221225991",
        "192.0.2.7/32",
        "1.2.3.4;id",
        "$(id)",
        "`id`",
        "-j",
        "--help",
        "host.example",
        "fe80::1%eth0",
        "fe80::1%1",
        "::ffff:192.0.2.07",
        "2001:db8::g",
        "1:2:3:4:5:6:7:8:9",
        "١٩٢.0.2.7",
        "1.2.3.4\x00",
        "a" * 100,
        ":::",
        "192.0.2.7:80",
        "[2001:db8::1]",
    ],
)
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_ip(text)


def test_refuses_non_strings() -> None:
    for value in (None, 3232235777, b"1.2.3.4", ["1.2.3.4"]):
        with pytest.raises(InvalidAddress):
            parse_ip(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("198.51.100.9", "198.51.100.9"),
        ("198.51.100.9/32", "198.51.100.9"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::ffff:198.51.100.9/128", "198.51.100.9"),
    ],
)
def test_networks(text: str, expected: str) -> None:
    assert network_text(parse_network(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "198.51.100.1/24",
        "198.51.100.0/33",
        "198.51.100.0/024",
        "198.51.100.0/",
        "/24",
        "2001:db8::/129",
        "::ffff:198.51.100.0/120",
        "198.51.100.0/24/1",
        "1.2.3.0/-1",
    ],
)
def test_bad_networks(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_network(text)


def test_network_text_single_and_net() -> None:
    assert network_text(ipaddress.ip_network("2001:db8::1/128")) == "2001:db8::1"
    assert network_text(ipaddress.ip_network("2001:db8::/64")) == "2001:db8::/64"
