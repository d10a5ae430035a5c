"""Bulk import/export, backend auto-selection and migration, against the real kernel."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import AgentSandbox

from activeresponse.netns import Namespace, link, pings

pytestmark = pytest.mark.netns


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def addresses(n: int, base: str = "10.{}.{}.{}") -> list[str]:
    return [base.format(1 + i // 65025, 1 + (i // 255) % 255, 1 + i % 255) for i in range(n)]


def test_import_reports_bad_lines_and_applies_the_rest(sandbox: AgentSandbox) -> None:
    good = addresses(300)
    text = "\n".join(
        ["# feed of 2026-12-04", "", "127.0.0.1", "not-an-address 1h", "192.0.2.7 1h 3 4",
         "198.51.100.0/24 permanent  # admin's /24", "10.0.0.0/8", "192.0.2.9 soon"]
        + [f"{a} 2h" for a in good]
    )  # fmt: skip
    done = sandbox.cli("import", "-", input=text)
    assert done.returncode == 3, done.stderr
    assert "accepted 301 (301 new, 0 extended), refused 5" in done.stdout
    errors = done.stderr.splitlines()
    for number in (3, 4, 5, 7, 8):
        assert any(line.startswith(f"line {number}: ") for line in errors), (number, errors)
    assert "loopback" in done.stderr and "wider" in done.stderr
    assert sorted(sandbox.blocked(4)) == sorted([*good, "198.51.100.0/24"])
    rows = {r["address"]: r for r in json.loads(ok(sandbox.cli("list", "--json")))["blocks"]}
    assert rows["198.51.100.0/24"]["expires"] is None
    assert 7100 < rows[good[0]]["remaining_seconds"] <= 7200 and rows[good[0]]["origin"] == "import"


def test_export_import_round_trip(sandbox: AgentSandbox, tmp_path: Path) -> None:
    ok(sandbox.cli("import", "-", input="\n".join(f"{a} {60 + i}" for i, a in
                                                  enumerate(addresses(200)))))  # fmt: skip
    ok(sandbox.cli("block", "2001:db8::/48", "--permanent", "--reason", "lab"))
    assert sandbox.ossec("add", "-", "198.51.100.7", "1.1", "5712").returncode == 0
    before = {r["address"]: r["remaining_seconds"]
              for r in json.loads(ok(sandbox.cli("list", "--json")))["blocks"]}  # fmt: skip
    exported = tmp_path / "blocks.txt"
    ok(sandbox.cli("export", str(exported)))
    assert exported.stat().st_mode & 0o777 == 0o600
    ok(sandbox.cli("flush", "--yes"))
    assert sandbox.blocked(4) == []
    ok(sandbox.cli("import", str(exported)))
    after = {r["address"]: r["remaining_seconds"]
             for r in json.loads(ok(sandbox.cli("list", "--json")))["blocks"]}  # fmt: skip
    assert after.keys() == before.keys()
    assert all(after[a] is None if before[a] is None else abs(after[a] - before[a]) <= 3
               for a in before)  # fmt: skip
    assert sorted(sandbox.blocked(6)) == ["2001:db8::/48"]


@pytest.mark.parametrize("backend", ["ipset", "nftables"], indirect=True)
def test_hundred_thousand_imported_all_enforced_and_listed(sandbox: AgentSandbox) -> None:
    many = addresses(100_000)
    start = time.monotonic()
    done = sandbox.cli("import", "-", input="\n".join(many))
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert "accepted 100000 (100000 new" in done.stdout
    assert len(sandbox.blocked(4)) == 100_000
    listed = json.loads(ok(sandbox.cli("list", "--json")))["blocks"]
    assert len(listed) == 100_000 and all(r["enforced"] for r in listed[::997])
    # Sampled real packets: sources from the list are dropped, another one flows.
    with Namespace.create("ar-atk") as atk:
        sample = [many[0], many[54_321], many[-1]]
        link(sandbox.ns, ["10.250.0.1/8"], atk, [f"{s}/8" for s in sample] + ["10.250.0.2/8"])
        for source in sample:
            got = atk.run(["ping", "-n", "-q", "-c", "2", "-W", "1", "-I", source, "10.250.0.1"],
                          check=False)  # fmt: skip
            assert got.returncode != 0, f"{source} got through"
        got = atk.run(["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", "10.250.0.2",
                       "10.250.0.1"], check=False)  # fmt: skip
        assert got.returncode == 0
    print(f"100,000 imported through the CLI in {elapsed:.1f} s ({sandbox.backend})")


# -- auto and migration -------------------------------------------------------------------


@pytest.fixture
def auto_box(tmp_path: Path, ns: Namespace) -> Iterator[AgentSandbox]:
    box = AgentSandbox(tmp_path, ns, "iptables-nft",
                       config_extra='backend = "auto"\nauto_set_threshold = 5\n')  # fmt: skip
    yield box
    box.cleanup()


def read_as(box: AgentSandbox, kind: str, family: int = 4) -> list[str]:
    box.kind = kind
    return box.blocked(family)


def test_auto_moves_to_a_set_backend_past_the_threshold(auto_box: AgentSandbox) -> None:
    box = auto_box
    status = json.loads(box.cli("status", "--json").stdout)
    assert status["backend"].startswith("iptables") and "at most 5 blocks" in status["auto"]
    six = [f"198.51.100.{i}" for i in range(1, 7)]
    for i, a in enumerate(six):
        assert box.ossec("add", "-", a, f"1.{i}", "5712").returncode == 0
    assert read_as(box, "iptables") == sorted(six)  # the agent never migrates; the sweep does
    out = ok(box.cli("expire"))
    assert "migrated 6 block(s) from iptables to ipset" in out
    assert read_as(box, "ipset") == sorted(six)
    assert read_as(box, "iptables") == []  # per-address rules replaced by the set lookups
    status = json.loads(box.cli("status", "--json").stdout)
    assert status["backend"].startswith("ipset") and status["attention"] == []
    # It stays there (no flip back) even when the count drops.
    ok(box.cli("flush", "--yes"))
    assert box.ossec("add", "-", "198.51.100.50", "2", "5712").returncode == 0
    assert read_as(box, "ipset") == ["198.51.100.50"]
    assert ok(box.cli("expire")) == ""


def test_migrate_keeps_every_block_enforced_throughout(auto_box: AgentSandbox) -> None:
    box = auto_box
    with Namespace.create("ar-atk") as atk:
        link(box.ns, ["192.0.2.1/24", "2001:db8::1/64"], atk, ["192.0.2.66/24", "2001:db8::66/64"])
        assert pings(atk, "192.0.2.1")
        for a in ("192.0.2.66", "2001:db8::66"):
            assert box.ossec("add", "-", a, "1.1", "5712").returncode == 0
        for target in ("nftables", "ipset", "iptables", "nftables"):
            # Ping every 10 ms from the blocked attacker for the whole switch.
            flood = [atk.exec_argv(["ping", *opt, "-n", "-q", "-i", "0.01", "-w", "4", dst])
                     for opt, dst in (([], "192.0.2.1"), (["-6"], "2001:db8::1"))]  # fmt: skip
            procs = [subprocess.Popen(a, stdout=subprocess.PIPE, text=True) for a in flood]
            time.sleep(0.5)
            out = ok(box.cli("migrate", "--to", target))
            assert f"to {target}" in out
            for proc in procs:
                stdout, _ = proc.communicate(timeout=30)
                assert " 0 received" in stdout, (target, stdout)
            assert read_as(box, target) == ["192.0.2.66"]
            assert read_as(box, target, 6) == ["2001:db8::66"]
            others = {"iptables", "ipset", "nftables"} - {target}
            for other in others - ({"iptables", "ipset"} if target != "nftables" else set()):
                assert read_as(box, other) == [], (target, other)
            assert box.cli("status").returncode == 0, box.cli("status").stderr
        assert pings(atk, "192.0.2.1") is False


def test_changing_the_configured_backend_is_migrated_by_restore(auto_box: AgentSandbox) -> None:
    box = auto_box
    assert box.ossec("add", "-", "192.0.2.66", "1.1", "5712").returncode == 0
    box.config.write_text(box.config.read_text().replace('backend = "auto"',
                                                         'backend = "nftables"'))  # fmt: skip
    status = box.cli("status")
    assert status.returncode == 1 and "still enforced by the iptables backend" in status.stderr
    assert box.cli("migrate", "--to", "ipset").returncode == 2  # the config decides
    out = ok(box.cli("restore"))
    assert "migrated 1 block(s) from iptables to nftables" in out
    assert read_as(box, "nftables") == ["192.0.2.66"] and read_as(box, "iptables") == []
    assert box.cli("status").returncode == 0


@pytest.mark.parametrize("kind", ["ipset", "nftables"])
def test_kernel_expired_element_and_ledger_agree_after_expire(
    tmp_path: Path, ns: Namespace, kind: str
) -> None:
    box = AgentSandbox(tmp_path, ns, kind, timeout=2)
    try:
        assert box.ossec("add", "-", "192.0.2.7", "1.1", "5712").returncode == 0
        assert box.blocked(4) == ["192.0.2.7"]
        time.sleep(3)
        assert box.blocked(4) == []  # the kernel dropped it on time, nothing of ours ran
        assert [r[0] for r in box.ledger_rows()] == ["192.0.2.7"]
        out = ok(box.cli("expire"))
        assert "expired 192.0.2.7" in out and "repaired" not in out
        assert box.ledger_rows() == [] and box.cli("status").returncode == 0
    finally:
        box.cleanup()
