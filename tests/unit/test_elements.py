from __future__ import annotations

import ipaddress

from activeresponse.backends.elements import (
    CAP,
    canonical,
    element_text,
    expiry_ok,
    kernel_timeout,
    live,
    network,
)

NOW = 1_700_000_000.0


def test_kernel_timeout_rounds_up_is_capped_and_never_zero() -> None:
    assert kernel_timeout(None, NOW, CAP) is None
    assert kernel_timeout(NOW + 599.01, NOW, CAP) == 600
    assert kernel_timeout(NOW + 0.001, NOW, CAP) == 1
    assert kernel_timeout(NOW - 30, NOW, CAP) == 1
    assert kernel_timeout(NOW + 10**9, NOW, CAP) == CAP == 2147483


def test_expiry_ok() -> None:
    assert expiry_ok(None, None, NOW, CAP)
    assert not expiry_ok(NOW + 60, None, NOW, CAP)
    assert not expiry_ok(None, NOW + 60, NOW, CAP)
    assert expiry_ok(NOW + 59, NOW + 60, NOW, CAP)
    assert not expiry_ok(NOW + 55, NOW + 60, NOW, CAP)
    assert not expiry_ok(NOW + 70, NOW + 60, NOW, CAP)
    # Beyond the cap: fine while more than half of the cap is left.
    far = NOW + 10**8
    assert expiry_ok(NOW + CAP - 100, far, NOW, CAP)
    assert not expiry_ok(NOW + CAP / 2 - 100, far, NOW, CAP)
    assert not expiry_ok(far, far, NOW, CAP)


def test_live() -> None:
    assert live(None, NOW) and live(NOW + 1, NOW)
    assert not live(NOW, NOW) and not live(NOW - 1, NOW)


def test_element_text_and_canonical() -> None:
    net = ipaddress.ip_network
    assert element_text(net("192.0.2.7")) == "192.0.2.7"
    assert element_text(net("2001:db8::7/128")) == "2001:db8::7"
    assert element_text(net("198.51.100.0/24")) == "198.51.100.0/24"
    assert canonical("192.0.2.7") == "192.0.2.7"
    assert canonical("198.51.100.7/32") == "198.51.100.7"
    assert canonical("2001:DB8:0:0::7") == "2001:db8::7"
    assert canonical("::1.2.3.4") == canonical("::102:304") == "::102:304"
    assert network("192.0.2.7") == net("192.0.2.7/32")
    assert network("2001:db8::/32") == net("2001:db8::/32")
