"""Another tool wipes the firewall: status reports the drift, the next expire repairs
safeguards, chains, sets and every unexpired block, one logged line per repair."""

from __future__ import annotations

import pytest
from sandbox import BACKENDS, AgentSandbox

pytestmark = pytest.mark.netns

WIPES = {
    "iptables -F": ("iptables", "ipset"),
    "iptables -F INPUT": ("iptables", "ipset"),
    "nft flush ruleset": ("nftables", "ipset", "iptables"),
    "ipset destroy": ("ipset",),
    "nft delete table": ("nftables",),
}


def wipe(box: AgentSandbox, how: str) -> None:
    ipt = [f"iptables-{box.variant}"]
    ip6t = [f"ip6tables-{box.variant}"]
    if how == "iptables -F":
        box.ns.run([*ipt, "-F"])
        box.ns.run([*ip6t, "-F"])
    elif how == "iptables -F INPUT":
        box.ns.run([*ipt, "-F", "INPUT"])
    elif how == "nft flush ruleset":
        box.ns.run(["nft", "flush", "ruleset"])
        if box.variant == "legacy":  # the legacy tables live outside nftables
            box.ns.run([*ipt, "-F"])
    elif how == "ipset destroy":
        box.ns.run([*ipt, "-F", "ACTIVERESPONSE"])
        box.ns.run([*ip6t, "-F", "ACTIVERESPONSE"])
        for name in box.ns.run(["ipset", "list", "-n"]).stdout.split():
            box.ns.run(["ipset", "destroy", name])
    else:
        box.ns.run(["nft", "delete", "table", "inet", "activeresponse"])


CASES = [
    (backend, how)
    for how, kinds in WIPES.items()
    for backend, (kind, _) in BACKENDS.items()
    if kind in kinds
]  # only the wipes that touch the backend


@pytest.mark.parametrize(("backend", "how"), CASES, indirect=["backend"])
def test_expire_repairs_a_wipe(sandbox: AgentSandbox, how: str) -> None:
    for address in ("192.0.2.7", "192.0.2.8", "2001:db8::7"):
        assert sandbox.ossec("add", "-", address, "1.1", "5712").returncode == 0
    sandbox.cli("block", "198.51.100.0/24")
    before = (sandbox.blocked(4), sandbox.blocked(6))
    wipe(sandbox, how)
    status = sandbox.cli("status")
    assert status.returncode == 1 and "ATTENTION" in status.stderr  # reported before repair
    out = sandbox.cli("expire")
    assert out.returncode == 0 and out.stdout.startswith("repaired: ")
    assert (sandbox.blocked(4), sandbox.blocked(6)) == before
    assert sandbox.cli("status").returncode == 0
    log = (sandbox.root / "log/activeresponse.log").read_text().splitlines()
    repairs = [line for line in log if "expire: repaired: " in line]
    assert len(repairs) == out.stdout.count("repaired: ")  # one log line per repair
    assert sandbox.cli("expire").stdout == ""
