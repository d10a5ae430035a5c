"""An attacker's already-open TCP connection dies with the block: conntrack entries of a
newly blocked address are deleted (kill_connections, on by default). Shown where it
matters most: a Plesk ruleset accepts ESTABLISHED traffic before its custom deny rules."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from plesk_sim import make_tree
from sandbox import AgentSandbox

from activeresponse.netns import Namespace, link

pytestmark = pytest.mark.netns

PEER = str(Path(__file__).resolve().parents[1] / "tcp_peer.py")
SERVER, CLIENT, PORT = "192.0.2.1", "192.0.2.66", "80"  # a port Plesk's rules allow


class Connection:
    """A real TCP connection from the attacker namespace to a server in the victim's."""

    def __init__(self, victim: Namespace, attacker: Namespace) -> None:
        server = victim.exec_argv([sys.executable, PEER, "server", SERVER, PORT])
        self.server = subprocess.Popen(server, stdout=subprocess.PIPE, text=True)
        assert self.server.stdout and self.server.stdout.readline().strip() == "listening"
        client = attacker.exec_argv([sys.executable, PEER, "client", SERVER, PORT])
        self.client = subprocess.Popen(client, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)  # fmt: skip
        assert self.client.stdout and self.client.stdout.readline().strip() == "connected"

    def talk(self) -> str:
        assert self.client.stdin and self.client.stdout
        self.client.stdin.write("hello\n")
        self.client.stdin.flush()
        return self.client.stdout.readline().strip()

    def close(self) -> None:
        for proc in (self.client, self.server):
            proc.kill()
            proc.wait()


@pytest.fixture
def attacker(ns: Namespace) -> Iterator[Namespace]:
    with Namespace.create("ar-atk") as atk:
        link(ns, [f"{SERVER}/24"], atk, [f"{CLIENT}/24"])
        yield atk


def entries(box: AgentSandbox) -> int:
    done = box.ns.run(["conntrack", "-L", "-s", CLIENT], check=False)
    return len(done.stdout.splitlines())


def cleared(box: AgentSandbox) -> bool:
    """The cleanup runs detached from firewall-drop: give it a moment."""
    deadline = time.monotonic() + 3
    while entries(box) and time.monotonic() < deadline:
        time.sleep(0.05)
    return entries(box) == 0


@pytest.mark.parametrize("kill", [True, False])
def test_plesk_established_connection(tmp_path: Path, ns: Namespace, attacker: Namespace,
                                      kill: bool) -> None:  # fmt: skip
    fake = make_tree(tmp_path / "plesk", "18.0", "debian")
    box = AgentSandbox(tmp_path / "agent", ns, "iptables-nft", config_extra=(
        f'backend = "plesk"\nplesk_root = "{fake.root}"\n'
        f"kill_connections = {'true' if kill else 'false'}\n"))  # fmt: skip
    ns.run([*fake.cli, "--apply", "-auto-confirm-this-may-lock-me-out-of-the-server"])
    conn = Connection(ns, attacker)
    try:
        assert conn.talk() == "echo"
        assert entries(box) >= 1
        assert box.ossec("add", "-", CLIENT, "1.1", "5712").returncode == 0
        if kill:
            assert cleared(box)
            assert conn.talk() == "silence"  # the open connection is dead too
        else:
            # Plesk accepts ESTABLISHED before its deny rules: without the conntrack
            # cleanup the attacker's open connection goes on. This is why it is on.
            assert conn.talk() == "echo"
    finally:
        conn.close()
        box.cleanup()


def test_iptables_backend_ends_connections(sandbox: AgentSandbox, attacker: Namespace) -> None:
    conn = Connection(sandbox.ns, attacker)
    try:
        assert conn.talk() == "echo"
        assert sandbox.ossec("add", "-", CLIENT, "1.1", "5712").returncode == 0
        assert cleared(sandbox)
        assert conn.talk() == "silence"
        assert sandbox.ossec("delete", "-", CLIENT, "1.1", "5712").returncode == 0
    finally:
        conn.close()
