from __future__ import annotations

from activeresponse.backends.timeouts import CAP, expiry_ok, kernel_timeout, live

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
