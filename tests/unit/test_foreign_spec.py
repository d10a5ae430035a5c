from __future__ import annotations

import pytest

from activeresponse.errors import UsageError
from activeresponse.foreign import Spec


def test_plain_block_spec() -> None:
    spec = Spec("-s 192.0.2.7 -j DROP")
    assert spec.is_plain_block and spec.source == "192.0.2.7" and spec.family == 4
    assert Spec("-s 2001:db8::7 -j DROP").family == 6
    assert not Spec("-s 192.0.2.7 -p tcp --dport 22 -j DROP").is_plain_block
    assert Spec("-p tcp -m comment --comment 'a b' -j ACCEPT").tokens[-3] == "a b"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-s 192.0.2.7",
        "-A INPUT -s 1.2.3.4 -j DROP",
        "-F INPUT",
        "-t nat -s 1.2.3.4 -j DROP",
        "-s '1.2.3.4",
        "-s 127.0.0.1/32 -m comment --comment activeresponse -j ACCEPT",
    ],
)
def test_refused_specs(text: str) -> None:
    with pytest.raises(UsageError):
        Spec(text)
