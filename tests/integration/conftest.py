from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import BACKENDS, AgentSandbox

from activeresponse.netns import Namespace


@pytest.fixture
def ns() -> Iterator[Namespace]:
    with Namespace.create("ar-test") as namespace:
        yield namespace


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The firewall backend (and iptables variant) an end-to-end test runs against; a test
    that only makes sense for some narrows it with ``parametrize(..., indirect=True)``."""
    return request.param


@pytest.fixture
def sandbox(tmp_path: Path, ns: Namespace, backend: str) -> Iterator[AgentSandbox]:
    box = AgentSandbox(tmp_path, ns, backend)
    yield box
    box.cleanup()
