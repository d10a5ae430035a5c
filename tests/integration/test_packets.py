"""End to end with real packets between namespaces: traffic from the attacker flows, is
dropped after ``add``, and flows again after ``delete``; on INPUT (to the host itself)
and on FORWARD (through the host, as for containers and routed networks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import AgentSandbox

from activeresponse.netns import Namespace, link, pings

pytestmark = pytest.mark.netns


@pytest.fixture
def attacker() -> Iterator[Namespace]:
    with Namespace.create("ar-atk") as ns:
        yield ns


def test_input_path_ipv4_and_ipv6(sandbox: AgentSandbox, attacker: Namespace) -> None:
    link(
        sandbox.ns,
        ["192.0.2.1/24", "2001:db8::1/64"],
        attacker,
        ["192.0.2.66/24", "2001:db8::66/64"],
    )
    for victim, source in (("192.0.2.1", "192.0.2.66"), ("2001:db8::1", "2001:db8::66")):
        assert pings(attacker, victim), "no traffic before the block: broken test setup"
        assert sandbox.ossec("add", "-", source, "1.1", "5712").returncode == 0
        assert not pings(attacker, victim, count=2)
        assert sandbox.ossec("delete", "-", source, "1.1", "5712").returncode == 0
        assert pings(attacker, victim)


def test_other_sources_keep_flowing(
    sandbox: AgentSandbox, attacker: Namespace, tmp_path: Path
) -> None:
    link(sandbox.ns, ["192.0.2.1/24"], attacker, ["192.0.2.66/24", "192.0.2.67/24"])
    assert sandbox.ossec("add", "-", "192.0.2.66", "1.1", "5712").returncode == 0
    # Same attacker namespace, other source address: not blocked.
    ok = attacker.run(
        ["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", "192.0.2.67", "192.0.2.1"], check=False
    )
    assert ok.returncode == 0
    assert not pings(attacker, "192.0.2.1")


def test_forward_path_through_the_host(sandbox: AgentSandbox, attacker: Namespace) -> None:
    """attacker -- host (routing, runs firewall-drop) -- server."""
    with Namespace.create("ar-srv") as server:
        link(attacker, ["198.51.100.66/24"], sandbox.ns, ["198.51.100.1/24"])
        link(sandbox.ns, ["203.0.113.1/24"], server, ["203.0.113.10/24"])
        sandbox.ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        attacker.ip("route", "add", "default", "via", "198.51.100.1")
        server.ip("route", "add", "default", "via", "203.0.113.1")
        assert pings(attacker, "203.0.113.10"), "no forwarding before the block: broken setup"
        assert sandbox.ossec("add", "-", "198.51.100.66", "1.1", "5712").returncode == 0
        assert not pings(attacker, "203.0.113.10", count=2)
        assert not pings(attacker, "198.51.100.1")
        assert sandbox.ossec("delete", "-", "198.51.100.66", "1.1", "5712").returncode == 0
        assert pings(attacker, "203.0.113.10")
