"""Shared fixtures. Namespace tests need root and ``ip netns``; without them they skip,
unless ACTIVERESPONSE_REQUIRE_NETNS=1 (set by CI), which turns the skip into a failure
so CI can never pass by skipping the tests that touch the real kernel."""

from __future__ import annotations

import os
import subprocess

import pytest

REQUIRE_VAR = "ACTIVERESPONSE_REQUIRE_NETNS"
_netns_problem: list[str | None] = []


def _probe_netns() -> str | None:
    """None if we can create a network namespace and use iptables in it, else why not."""
    if os.geteuid() != 0:
        return "not root"
    name = f"ar-probe-{os.getpid()}"
    try:
        made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    except FileNotFoundError:
        return "iproute2 (ip) is not installed"
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        for tool in (
            "iptables-nft-save",
            "iptables-legacy-save",
            "ip6tables-nft-save",
            "nft",
            "ipset",
            "ping",
        ):
            done = subprocess.run(
                ["ip", "netns", "exec", name, "sh", "-c", f"command -v {tool}"],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                return f"{tool} is not installed"
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    return None


def netns_problem() -> str | None:
    if not _netns_problem:
        _netns_problem.append(_probe_netns())
    return _netns_problem[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = None
    if any(item.get_closest_marker("netns") for item in items):
        problem = netns_problem()
    if problem is None:
        return
    required = os.environ.get(REQUIRE_VAR) == "1"
    for item in items:
        if item.get_closest_marker("netns"):
            if required:
                item.add_marker(pytest.mark.usefixtures("_netns_required_failure"))
            else:
                item.add_marker(pytest.mark.skip(reason=f"namespace test: {problem}"))


@pytest.fixture
def _netns_required_failure() -> None:
    pytest.fail(f"{REQUIRE_VAR}=1 but namespace tests cannot run: {netns_problem()}")
