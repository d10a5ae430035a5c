from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import AgentSandbox

from activeresponse.netns import Namespace


@pytest.fixture
def ns() -> Iterator[Namespace]:
    with Namespace.create("ar-test") as namespace:
        yield namespace


@pytest.fixture(params=["nft", "legacy"])
def variant(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def sandbox(tmp_path: Path, ns: Namespace, variant: str) -> Iterator[AgentSandbox]:
    box = AgentSandbox(tmp_path, ns, variant)
    yield box
    box.cleanup()
