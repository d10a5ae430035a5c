from __future__ import annotations

import pytest

from activeresponse.durations import format_duration, parse_duration
from activeresponse.errors import UsageError


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600),
                         ("1h", 3600), ("2d", 172800), ("1w", 604800), ("1h30m", 5400),
                         (" 5M ", 300)])  # fmt: skip
def test_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "1x", "h", "1.5h", "10 m", "1h-", "m10"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(598) == "9m 58s"
    assert format_duration(3600) == "1h"
    assert format_duration(90061) == "1d 1h"
    assert format_duration(-5) == "0s"
