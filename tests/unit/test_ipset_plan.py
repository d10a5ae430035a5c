"""Batch building for the ipset backend: pure, from canned ``ipset save`` and
``iptables-save`` text."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from activeresponse.backends.ipset import (
    IpsetBackend,
    IpsetState,
    parse_ipset_list_terse,
    parse_ipset_save,
    set_rule,
)
from activeresponse.backends.iptables import parse_save
from activeresponse.errors import FirewallError
from activeresponse.model import Block

NOW = 1_700_000_000.0
DATA = Path(__file__).parent / "data"

EMPTY_TABLE = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
"""

READY_TABLE = (DATA / "iptables-save-ipset.txt").read_text()


READY_TABLE6 = (
    READY_TABLE.replace("127.0.0.1/32", "::1/128")
    .replace("activeresponse-v4", "activeresponse-v6")
    .replace("activeresponse-net4", "activeresponse-net6")
)

# What `ipset save` printed with our sets in use (hashsize grown, initval random), and
# somebody else's set (f2b-sshd), which we never read.
SAVE = (DATA / "ipset-save.txt").read_text()


def net(text: str):
    return ipaddress.ip_network(text)


def blk(address: str, expires: float | None) -> Block:
    return Block(net(address), created=NOW - 10, expires=expires, origin="admin")


def backend(maxelem: int = 1048576) -> IpsetBackend:
    b = IpsetBackend("nft", maxelem)
    b.tool = lambda family, kind: f"{'ip6' if family == 6 else 'ip'}tables-nft-{kind}"  # type: ignore[method-assign]
    return b


def ready(save: str = SAVE, read_at: float = NOW) -> IpsetState:
    tables = {4: parse_save(READY_TABLE, 4), 6: parse_save(READY_TABLE6, 6)}
    return IpsetState(parse_ipset_save(save), tables, read_at)


def empty(families: tuple[int, ...] = (4, 6)) -> IpsetState:
    tables = {f: parse_save(EMPTY_TABLE, f) for f in families}
    return IpsetState({}, tables, NOW)


def test_parse_ipset_save_reads_only_our_sets() -> None:
    sets = parse_ipset_save(SAVE)
    assert sorted(sets) == [
        "activeresponse-net4",
        "activeresponse-net6",
        "activeresponse-v4",
        "activeresponse-v6",
    ]
    v4 = sets["activeresponse-v4"]
    assert (v4.type, v4.family, v4.maxelem, v4.timeout) == ("hash:ip", "inet", 1048576, True)
    assert v4.elements == {"192.0.2.7": 100, "192.0.2.8": 0}
    assert sets["activeresponse-net4"].elements == {"198.51.100.0/24": 3000, "198.51.100.7": 50}
    assert sets["activeresponse-v6"].family == "inet6"
    with pytest.raises(FirewallError, match="unexpected element"):
        parse_ipset_save(SAVE + "add activeresponse-v6 2001:db8::/129\n")


def test_parse_terse_listing_has_headers_only() -> None:
    sets = parse_ipset_list_terse((DATA / "ipset-list-terse.txt").read_text())
    assert sorted(sets) == sorted(parse_ipset_save(SAVE))
    for name, full in parse_ipset_save(SAVE).items():
        terse = sets[name]
        assert (terse.type, terse.family, terse.maxelem, terse.timeout) == (
            full.type,
            full.family,
            full.maxelem,
            full.timeout,
        )
        assert terse.elements == {}


def terse() -> IpsetState:
    state = ready()
    state.sets = parse_ipset_list_terse((DATA / "ipset-list-terse.txt").read_text())
    state.complete = False
    return state


def test_plan_from_a_terse_snapshot_writes_idempotent_changes() -> None:
    """Without the elements listed (the agent's path: listing 100,000 elements costs a
    second), every add is an add with its timeout and every remove a del: with -exist,
    right whatever the set holds."""
    b = backend()
    batch = b.plan(terse(), add=[blk("192.0.2.7", NOW + 100)], now=NOW)
    assert [s.payload for s in batch.steps] == ["add activeresponse-v4 192.0.2.7 timeout 100\n"]
    batch = b.plan(terse(), remove=[net("192.0.2.200"), net("198.51.100.0/24")], now=NOW)
    assert batch.steps[0].payload == (
        "del activeresponse-v4 192.0.2.200\ndel activeresponse-net4 198.51.100.0/24\n"
    )
    # A new capacity waits for the next sync, which lists the elements it must copy.
    assert "swap" not in backend(maxelem=10).plan(terse(), add=[blk("192.0.2.9", None)]).dry_run()
    with pytest.raises(ValueError, match="elements"):
        b.plan_sync(terse(), [], [4])
    with pytest.raises(ValueError, match="elements"):
        b.enforced(terse())
    assert b.safeguards_ok(terse())


def test_first_add_sets_up_every_family_read() -> None:
    """Given both families (first use), the plan sets up IPv6 too."""
    batch = backend().plan(empty(), add=[blk("192.0.2.7", NOW + 599.2)], now=NOW)
    assert [s.argv[0] for s in batch.steps] == ["ipset", "iptables-nft-restore",
                                                "ip6tables-nft-restore"]  # fmt: skip
    assert "create activeresponse-v6 hash:ip family inet6" in batch.steps[0].payload


def test_first_add_creates_sets_then_the_layout() -> None:
    batch = backend().plan(empty((4,)), add=[blk("192.0.2.7", NOW + 599.2)], now=NOW)
    assert [s.argv for s in batch.steps] == [
        ["ipset", "restore", "-exist"],
        ["iptables-nft-restore", "-w", "10", "--noflush"],
    ]
    assert batch.steps[0].payload == (
        "create activeresponse-v4 hash:ip family inet maxelem 1048576 timeout 0\n"
        "add activeresponse-v4 192.0.2.7 timeout 600\n"
        "create activeresponse-net4 hash:net family inet maxelem 1048576 timeout 0\n"
    )
    assert batch.steps[1].payload == (
        "*filter\n"
        ":ACTIVERESPONSE - [0:0]\n"
        f"-A ACTIVERESPONSE {set_rule('activeresponse-v4')}\n"
        f"-A ACTIVERESPONSE {set_rule('activeresponse-net4')}\n"
        "-I INPUT 1 -s 127.0.0.1/32 -m comment --comment activeresponse -j ACCEPT\n"
        "-I INPUT 2 -m comment --comment activeresponse -j ACTIVERESPONSE\n"
        "-I FORWARD 1 -s 127.0.0.1/32 -m comment --comment activeresponse -j ACCEPT\n"
        "-I FORWARD 2 -m comment --comment activeresponse -j ACTIVERESPONSE\n"
        "COMMIT\n"
    )
    assert set_rule("activeresponse-v4") == (
        "-m set --match-set activeresponse-v4 src -m comment --comment activeresponse -j DROP"
    )


def test_present_with_the_same_expiry_needs_nothing() -> None:
    state = ready()
    b = backend()
    # 192.0.2.7 has 100 s left as listed at NOW; 198.51.100.0/24 3000 s; 2001:db8::7 permanent.
    same = [blk("192.0.2.7", NOW + 100.5), blk("198.51.100.0/24", NOW + 3001)]
    assert not b.plan(state, add=[*same, blk("2001:db8::7", None)], now=NOW + 1)
    assert not b.plan(state, remove=[net("192.0.2.200"), net("2001:db8::99")], now=NOW)


def test_add_again_extends_the_timeout_in_place() -> None:
    batch = backend().plan(ready(), add=[blk("192.0.2.7", NOW + 700)], now=NOW + 10)
    assert len(batch.steps) == 1  # layout is fine: no iptables step
    assert batch.steps[0].payload == "add activeresponse-v4 192.0.2.7 timeout 690\n"
    assert batch.actions == ["refreshed 192.0.2.7 in activeresponse-v4 (timeout 690s)"]


def test_permanent_and_timed_swap_both_ways() -> None:
    b = backend()
    batch = b.plan(ready(), add=[blk("192.0.2.7", None), blk("192.0.2.8", NOW + 60)], now=NOW)
    assert batch.steps[0].payload == (
        "add activeresponse-v4 192.0.2.7 timeout 0\nadd activeresponse-v4 192.0.2.8 timeout 60\n"
    )


def test_timeouts_are_capped_and_never_zero() -> None:
    b = backend()
    year = blk("203.0.113.5", NOW + 365 * 86400)
    soon = blk("203.0.113.6", NOW + 0.2)
    expired = blk("192.0.2.7", NOW - 5)  # present in the kernel, expired in the ledger
    payload = b.plan(ready(), add=[year, soon, expired], now=NOW).steps[0].payload
    assert "add activeresponse-v4 203.0.113.5 timeout 2147483\n" in payload
    assert "add activeresponse-v4 203.0.113.6 timeout 1\n" in payload
    assert "del activeresponse-v4 192.0.2.7\n" in payload
    assert "192.0.2.7 timeout" not in payload


def test_capped_block_is_refreshed_only_when_half_the_cap_is_spent() -> None:
    b = backend()
    long_block = blk("192.0.2.9", NOW + 365 * 86400)
    fresh = SAVE + "add activeresponse-v4 192.0.2.9 timeout 2147000\n"
    assert "192.0.2.9" not in b.plan_sync(ready(fresh), [long_block], [4], now=NOW).dry_run()
    worn = SAVE + "add activeresponse-v4 192.0.2.9 timeout 1000000\n"
    payload = b.plan_sync(ready(worn), [long_block], [4], now=NOW).steps[0].payload
    assert "add activeresponse-v4 192.0.2.9 timeout 2147483\n" in payload


def test_cidr_goes_to_the_net_set_and_nested_networks_coexist() -> None:
    batch = backend().plan(ready(), add=[blk("198.51.100.0/28", NOW + 60)], now=NOW)
    assert batch.steps[0].payload == "add activeresponse-net4 198.51.100.0/28 timeout 60\n"


def test_remove_deletes_from_the_right_set() -> None:
    batch = backend().plan(ready(), remove=[net("198.51.100.0/24"), net("2001:db8::7")], now=NOW)
    assert batch.steps[0].payload == (
        "del activeresponse-net4 198.51.100.0/24\ndel activeresponse-v6 2001:db8::7\n"
    )


def test_sync_is_exact() -> None:
    wanted = [blk("192.0.2.7", NOW + 100), blk("192.0.2.9", NOW + 60), blk("2001:db8::8", None)]
    batch = backend().plan_sync(ready(), wanted, [4, 6], now=NOW)
    assert len(batch.steps) == 1
    assert batch.steps[0].payload == (
        "add activeresponse-v4 192.0.2.9 timeout 60\n"
        "del activeresponse-v4 192.0.2.8\n"
        "del activeresponse-net4 198.51.100.0/24\n"
        "del activeresponse-net4 198.51.100.7\n"
        "add activeresponse-v6 2001:db8::8 timeout 0\n"
        "del activeresponse-v6 2001:db8::7\n"
    )


def test_sync_of_one_family_leaves_the_other_alone() -> None:
    batch = backend().plan_sync(ready(), [], [6], now=NOW)
    assert batch.steps[0].payload == "del activeresponse-v6 2001:db8::7\n"


def test_sync_repairs_a_wiped_chain_and_drops_leftover_per_address_rules() -> None:
    wiped = READY_TABLE.replace(
        "-A ACTIVERESPONSE -m set --match-set activeresponse-v4 src -m comment --comment "
        "activeresponse -j DROP\n",
        "-A ACTIVERESPONSE -s 192.0.2.50/32 -m comment --comment activeresponse -j DROP\n",
    )
    state = ready()
    state.tables[4] = parse_save(wiped, 4)
    b = backend()
    assert not b.safeguards_ok(state)
    assert net("192.0.2.50") in b.enforced(state)  # that rule does block
    batch = b.plan_sync(state, [blk("192.0.2.7", NOW + 100)], [4], now=NOW)
    payload = batch.steps[-1].payload
    assert batch.steps[-1].argv[0] == "iptables-nft-restore"
    assert "-D ACTIVERESPONSE -s 192.0.2.50/32" in payload
    assert "-D ACTIVERESPONSE -m set --match-set activeresponse-net4 src" in payload
    assert payload.index("-A ACTIVERESPONSE -m set --match-set activeresponse-v4") < payload.index(
        "-A ACTIVERESPONSE -m set --match-set activeresponse-net4"
    )
    # plan() only adds what is missing, and drops the per-address rule once it is removed.
    batch = b.plan(state, add=[blk("192.0.2.7", NOW + 100)], now=NOW)
    assert batch.steps[-1].payload == (
        f"*filter\n-A ACTIVERESPONSE {set_rule('activeresponse-v4')}\nCOMMIT\n"
    )
    batch = b.plan(state, remove=[net("192.0.2.50")], now=NOW)
    assert "-D ACTIVERESPONSE -s 192.0.2.50/32" in batch.steps[-1].payload


def test_sync_recreates_destroyed_sets() -> None:
    state = ready(SAVE.split("create activeresponse-v6")[0])  # no IPv6 sets any more
    payload = backend().plan_sync(state, [blk("2001:db8::7", None)], [6], now=NOW).steps[0].payload
    assert payload == (
        "create activeresponse-v6 hash:ip family inet6 maxelem 1048576 timeout 0\n"
        "add activeresponse-v6 2001:db8::7 timeout 0\n"
        "create activeresponse-net6 hash:net family inet6 maxelem 1048576 timeout 0\n"
    )


def test_new_maxelem_rebuilds_the_set_by_swapping_keeping_timeouts() -> None:
    batch = backend(maxelem=2000).plan(ready(), add=[blk("192.0.2.9", NOW + 60)], now=NOW + 10)
    lines = batch.steps[0].payload.splitlines()
    v4 = [ln for ln in lines if "-v4" in ln]
    assert v4 == [
        "create activeresponse-v4-new hash:ip family inet maxelem 2000 timeout 0",
        "add activeresponse-v4-new 192.0.2.7 timeout 90",
        "add activeresponse-v4-new 192.0.2.8 timeout 0",
        "add activeresponse-v4-new 192.0.2.9 timeout 50",
        "swap activeresponse-v4 activeresponse-v4-new",
        "destroy activeresponse-v4-new",
    ]
    assert "swap activeresponse-net4 activeresponse-net4-new" in lines


def test_a_set_of_another_type_is_an_error_not_a_guess() -> None:
    save = SAVE.replace("create activeresponse-v4 hash:ip", "create activeresponse-v4 hash:net", 1)
    with pytest.raises(FirewallError, match="ipset destroy activeresponse-v4"):
        backend().plan(ready(save), add=[blk("192.0.2.9", NOW + 60)], now=NOW)


def test_enforced_and_safeguards() -> None:
    b = backend()
    state = ready()
    assert b.enforced(state) == {
        net(a) for a in ("192.0.2.7", "192.0.2.8", "198.51.100.0/24", "198.51.100.7", "2001:db8::7")
    }
    assert b.safeguards_ok(state)
    assert not b.safeguards_ok(empty())
    state.tables[6] = parse_save(EMPTY_TABLE, 6)
    assert not b.safeguards_ok(state)
