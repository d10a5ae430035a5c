"""The ipset and nftables backends' API against the real kernel, in a private namespace:
add / extend / remove / sync / repair, both families, networks, permanent elements,
elements the kernel expires by itself, real packets, and 100,000 elements.

The backend calls run inside the namespace through tests/backend_driver.py; what the
kernel holds is read back here with the firewall's own tools, not through our code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activeresponse.netns import Namespace, link, pings

pytestmark = pytest.mark.netns

DRIVER = Path(__file__).parents[1] / "backend_driver.py"


class Driver:
    """One backend, driven inside ``ns``; every call is one process, as in production."""

    def __init__(self, ns: Namespace, backend: str) -> None:
        self.ns = ns
        self.backend = backend

    def __call__(self, *ops: dict, maxelem: int | None = None) -> list[dict]:
        argv = [sys.executable, str(DRIVER), self.backend]
        if maxelem is not None:
            argv.append(str(maxelem))
        done = subprocess.run(
            self.ns.exec_argv(argv),
            input=json.dumps(ops),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def add(self, *blocks: tuple[str, float | None], elements: bool = True, **kw) -> dict:
        return self({"op": "plan", "add": blocks, "elements": elements}, **kw)[0]

    def remove(self, *nets: str, elements: bool = True) -> dict:
        return self({"op": "plan", "remove": nets, "elements": elements})[0]

    def sync(self, *blocks: tuple[str, float | None], families=(4, 6)) -> dict:
        return self({"op": "sync", "blocks": blocks, "families": families})[0]

    def read(self) -> tuple[list[str], bool]:
        result = self({"op": "read"})[0]
        return result["enforced"], result["ok"]

    # -- what the kernel holds, read with the tools themselves ---------------------------

    def elements(self) -> list[tuple[str, int | None]]:
        """(element, remaining seconds or None if permanent) of all our sets, as listed."""
        if self.backend == "ipset":
            out = self.ns.run(["ipset", "save"]).stdout
            found = []
            for words in (line.split() for line in out.splitlines()):
                if words[:1] == ["add"] and words[1].startswith("activeresponse-"):
                    left = int(words[words.index("timeout") + 1])
                    found.append((words[2], left or None))
            return sorted(found, key=str)
        done = self.ns.run(["nft", "-j", "list", "table", "inet", "activeresponse"], check=False)
        if done.returncode != 0:
            return []
        found = []
        for obj in json.loads(done.stdout)["nftables"]:
            for elem in obj.get("set", {}).get("elem", []):
                inner = elem.get("elem", {}) if isinstance(elem, dict) else {}
                value = inner.get("val", elem)
                if isinstance(value, dict):
                    value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
                found.append((value, inner.get("expires") if "timeout" in inner else None))
        return sorted(found, key=str)

    def timeouts(self) -> dict[str, int | None]:
        found = self.elements()
        names = [name for name, _ in found]
        assert len(names) == len(set(names)), f"an element is listed twice: {found}"
        return dict(found)

    def wipe(self) -> None:
        """What an admin or another tool may do to our firewall state."""
        if self.backend == "ipset":
            for tool in ("iptables-nft", "ip6tables-nft"):
                self.ns.run([tool, "-F", "ACTIVERESPONSE"])
                self.ns.run([tool, "-D", "INPUT", "1"])  # the safeguard
            for name in ("v4", "net4", "v6", "net6"):
                self.ns.run(["ipset", "destroy", f"activeresponse-{name}"])
        else:
            self.ns.run(["nft", "delete", "table", "inet", "activeresponse"])


@pytest.fixture
def ns() -> Iterator[Namespace]:
    with Namespace.create("ar-set") as namespace:
        yield namespace


@pytest.fixture(params=["ipset", "nftables"])
def drv(request: pytest.FixtureRequest, ns: Namespace) -> Driver:
    return Driver(ns, request.param)


@pytest.fixture
def attacker(ns: Namespace) -> Iterator[Namespace]:
    """A second namespace joined to ``ns`` (the victim, 192.0.2.1 / 2001:db8::1) with the
    attacker's addresses 192.0.2.66-67 and 2001:db8::66."""
    with Namespace.create("ar-atk") as other:
        link(
            ns,
            ["192.0.2.1/24", "2001:db8::1/64"],
            other,
            ["192.0.2.66/24", "192.0.2.67/24", "2001:db8::66/64"],
        )
        yield other


def pings_from(src: Namespace, source: str, target: str) -> bool:
    argv = ["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", source, target]
    return src.run(argv, check=False).returncode == 0


def near(value: int | None, expected: int) -> bool:
    return value is not None and expected - 5 <= value <= expected


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "terse"])
def test_add_extend_remove_in_both_families(drv: Driver, listed: bool) -> None:
    """``terse``: planned from a snapshot without the elements, as operations does."""
    drv.add(("192.0.2.7", 600), ("2001:db8::7", 600), elements=listed)
    held = drv.timeouts()
    assert sorted(held) == ["192.0.2.7", "2001:db8::7"]
    assert all(near(t, 600) for t in held.values()), held
    assert drv.read() == (["192.0.2.7/32", "2001:db8::7/128"], True)

    # Blocking again extends in place: one element each, with the new timeout.
    result = drv.add(("192.0.2.7", 5000), ("2001:db8::7", 5000), elements=listed)
    assert any(a.startswith("refreshed 192.0.2.7") for a in result["actions"]) or not listed
    held = drv.timeouts()
    assert sorted(held) == ["192.0.2.7", "2001:db8::7"]
    assert all(near(t, 5000) for t in held.values()), held
    if listed:
        assert drv.add(("192.0.2.7", 5000))["steps"] == 0  # same expiry: nothing to do
    # Shorter works too (an admin shortens a block), and permanent.
    drv.add(("192.0.2.7", 100), ("2001:db8::7", None), elements=listed)
    held = drv.timeouts()
    assert near(held["192.0.2.7"], 100) and held["2001:db8::7"] is None, held

    drv.remove("192.0.2.7", "2001:db8::7", elements=listed)
    assert drv.timeouts() == {}
    # Removing what is not there is a no-op, never an error.
    result = drv.remove("192.0.2.7", "2001:db8::7", "198.51.100.0/24", elements=listed)
    assert result["steps"] == 0 or not listed
    assert drv.timeouts() == {}
    assert drv.read() == ([], True)


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "terse"])
def test_a_stale_snapshot_never_makes_the_batch_fail(drv: Driver, listed: bool) -> None:
    """Planned from a listing that still shows elements the kernel has since expired:
    removing one and extending the other must both work."""
    drv.add(("192.0.2.20", 1), ("192.0.2.21", 1))
    drv(
        {
            "op": "plan",
            "remove": ["192.0.2.20"],
            "add": [("192.0.2.21", 600)],
            "stale": 2.2,
            "elements": listed,
        }
    )
    held = drv.timeouts()
    assert list(held) == ["192.0.2.21"] and near(held["192.0.2.21"], 600), held


def test_sync_is_exact_and_repairs_a_wiped_firewall(drv: Driver) -> None:
    drv.add(("192.0.2.30", 600), ("192.0.2.31", 600), ("2001:db8::30", 600))
    wanted = (("192.0.2.31", 300), ("198.51.100.0/24", None), ("2001:db8::31", None))
    drv.sync(*wanted)
    exact = ["192.0.2.31/32", "198.51.100.0/24", "2001:db8::31/128"]
    assert drv.read() == (exact, True)
    held = drv.timeouts()
    assert near(held["192.0.2.31"], 300) and held["198.51.100.0/24"] is None, held
    assert drv.sync(*wanted)["steps"] == 0  # nothing left to do

    drv.wipe()
    enforced, ok = drv.read()
    assert not ok and enforced == []
    drv.sync(*wanted)
    assert drv.read() == (exact, True)


def test_sync_of_one_family_leaves_the_other(drv: Driver) -> None:
    drv.add(("192.0.2.40", 600), ("2001:db8::40", 600))
    drv.sync(families=[6])
    assert list(drv.timeouts()) == ["192.0.2.40"]


def test_networks_nested_and_permanent_with_real_packets(drv: Driver, attacker: Namespace) -> None:
    assert pings_from(attacker, "192.0.2.66", "192.0.2.1"), "no traffic: broken test setup"
    assert pings(attacker, "2001:db8::1"), "no traffic: broken test setup"
    drv.add(("192.0.2.64/28", None), ("192.0.2.64/26", 600), ("2001:db8::40/122", None))
    held = drv.timeouts()
    assert held["192.0.2.64/28"] is None and held["2001:db8::40/122"] is None, held
    assert near(held["192.0.2.64/26"], 600)
    assert not pings_from(attacker, "192.0.2.66", "192.0.2.1")
    assert not pings_from(attacker, "192.0.2.67", "192.0.2.1")
    assert not pings(attacker, "2001:db8::1")
    drv.remove("192.0.2.64/28")
    assert not pings_from(attacker, "192.0.2.66", "192.0.2.1")  # the /26 still covers it
    drv.remove("192.0.2.64/26", "2001:db8::40/122")
    assert pings_from(attacker, "192.0.2.66", "192.0.2.1")
    assert pings(attacker, "2001:db8::1")
    assert drv.read() == ([], True)


def test_the_kernel_expires_an_element_by_itself(drv: Driver, attacker: Namespace) -> None:
    assert pings(attacker, "192.0.2.1") and pings(attacker, "2001:db8::1"), "broken setup"
    drv.add(("192.0.2.66", 2), ("2001:db8::66", 2))
    assert not pings(attacker, "192.0.2.1") and not pings(attacker, "2001:db8::1")
    time.sleep(2.5)
    # No call of ours in between: the kernel lifted both blocks on time.
    assert pings(attacker, "192.0.2.1") and pings(attacker, "2001:db8::1")
    assert drv.timeouts() == {}
    assert drv.read() == ([], True)


def test_new_capacity_rebuilds_the_sets_keeping_elements(drv: Driver, attacker: Namespace) -> None:
    drv.add(("192.0.2.66", 600), ("198.51.100.0/24", None))
    drv.add(("192.0.2.50", 600), maxelem=5000)
    held = drv.timeouts()
    assert sorted(held) == ["192.0.2.50", "192.0.2.66", "198.51.100.0/24"]
    assert near(held["192.0.2.66"], 600) and held["198.51.100.0/24"] is None
    if drv.backend == "ipset":
        listing = drv.ns.run(["ipset", "list", "-t", "activeresponse-v4"]).stdout
        assert "maxelem 5000" in listing
    else:
        listing = drv.ns.run(["nft", "list", "set", "inet", "activeresponse", "v4"]).stdout
        assert "size 5000" in listing
    assert not pings(attacker, "192.0.2.1")  # still enforced through the new set


def test_hundred_thousand_elements_in_one_batch_are_all_listed(drv: Driver) -> None:
    """Listing goes beyond one netlink message: read() must return every element."""
    drv({"op": "sync_range", "count": 100000})
    (counted,) = drv({"op": "count", "count": 100000})
    assert counted == {"held": 100000, "total": 100000}
    assert len(drv.elements()) == 100000


def test_nftables_never_touches_another_table(ns: Namespace) -> None:
    foreign = (
        "table ip other {\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tip saddr 203.0.113.9 drop\n"
        "\t}\n"
        "}\n"
    )
    ns.run(["nft", "-f", "-"], input=foreign)
    before = ns.run(["nft", "list", "table", "ip", "other"]).stdout
    drv = Driver(ns, "nftables")
    drv.add(("192.0.2.7", 600))
    drv.sync(("192.0.2.8", None))
    drv.wipe()
    drv.sync(("192.0.2.9", 60))
    drv.remove("192.0.2.9")
    assert ns.run(["nft", "list", "table", "ip", "other"]).stdout == before


def test_ipset_takes_over_from_the_iptables_backend(ns: Namespace) -> None:
    """After a switch of backend, sync moves per-address rules into the sets, and leaves
    other tools' sets alone."""
    ns.run(["ipset", "create", "f2b-sshd", "hash:ip"])
    ns.run(["ipset", "add", "f2b-sshd", "192.0.2.99"])
    Driver(ns, "iptables-nft").add(("192.0.2.7", 600), ("192.0.2.8", 600))
    drv = Driver(ns, "ipset")
    assert drv.read()[0] == ["192.0.2.7/32", "192.0.2.8/32"]  # per-address rules block too
    drv.sync(("192.0.2.7", 600))
    chain = ns.run(["iptables-nft-save", "-t", "filter"]).stdout
    assert "-s 192.0.2." not in chain
    assert chain.count("--match-set activeresponse-") == 2
    assert list(drv.timeouts()) == ["192.0.2.7"]
    assert "add f2b-sshd 192.0.2.99" in ns.run(["ipset", "save", "f2b-sshd"]).stdout
