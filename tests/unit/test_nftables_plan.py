"""Batch building for the nftables backend: pure, from canned ``nft -j list table`` output
(data/nft-list-table.json is what nft 1.0.6 printed for our layout holding 192.0.2.7
(100 s), 192.0.2.8 (permanent), 2001:db8::7 (permanent), 198.51.100.0/24 (3000 s) and
2001:db8:1::/48 (permanent))."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path

import pytest

from activeresponse.backends.nftables import (
    NftablesBackend,
    NftState,
    expected_rules,
    parse_nft_json,
    rule_text,
    set_for,
)
from activeresponse.model import Block

NOW = 1_700_000_000.0
READY = json.loads((Path(__file__).parent / "data" / "nft-list-table.json").read_text())
T = "inet activeresponse"
HOOK_SPEC = "priority filter - 10; policy accept;"


def net(text: str):
    return ipaddress.ip_network(text)


def blk(address: str, expires: float | None) -> Block:
    return Block(net(address), created=NOW - 10, expires=expires, origin="admin")


def ready(families=(4, 6), data=None) -> NftState:
    return parse_nft_json(READY if data is None else data, families, NOW)


def edited(edit) -> dict:
    data = copy.deepcopy(READY)
    edit(data["nftables"])
    return data


def lines(batch) -> list[str]:
    assert len(batch.steps) == 1 and batch.steps[0].argv == ["nft", "-f", "-"]
    return batch.steps[0].payload.splitlines()


def test_parse_reads_elements_with_expiry_and_rules_canonically() -> None:
    state = ready()
    assert state.exists
    assert state.sets["v4"].elements == {"192.0.2.7": NOW + 99, "192.0.2.8": None}
    assert state.sets["net4_24"].elements == {"198.51.100.0/24": NOW + 2999}
    assert state.sets["net6_48"].elements == {"2001:db8:1::/48": None}
    assert state.sets["net4_24"].spec() == (
        "ipv4_addr",
        frozenset({"interval", "timeout"}),
        1048576,
    )
    assert state.chains["input"].spec_ok()
    assert state.chains["input"].rules == [
        canon for _, canon in expected_rules("input", ["v4", "v6", "net4_24", "net6_48"])
    ]
    assert state.chains["forward"].rules[0] == "ip saddr == 127.0.0.0/8 accept"
    # What we never write never compares equal to what we do.
    odd = [{"match": {"op": "!=", "left": {"meta": {"key": "iif"}}, "right": "lo"}}]
    assert rule_text([*odd, {"counter": None}, {"accept": None}]).startswith("meta iif != lo {")


def test_set_for() -> None:
    assert [
        set_for(net(a)) for a in ("192.0.2.1", "2001:db8::1", "10.0.0.0/8", "2001:db8::/32")
    ] == [
        "v4",
        "v6",
        "net4_8",
        "net6_32",
    ]


def test_first_add_creates_the_whole_table_in_one_transaction() -> None:
    empty = NftState([4], NOW)
    batch = NftablesBackend().plan(empty, add=[blk("192.0.2.7", NOW + 599.5)], now=NOW)
    assert lines(batch) == [
        f"add table {T}",
        f"add set {T} v4 {{ type ipv4_addr; flags timeout; size 1048576; }}",
        f"add set {T} v6 {{ type ipv6_addr; flags timeout; size 1048576; }}",
        f"add chain {T} input {{ type filter hook input {HOOK_SPEC} }}",
        f"add chain {T} forward {{ type filter hook forward {HOOK_SPEC} }}",
        f"add element {T} v4 {{ 192.0.2.7 timeout 600s }}",
        f'add rule {T} input iif "lo" accept',
        f"add rule {T} input ip saddr 127.0.0.0/8 accept",
        f"add rule {T} input ip6 saddr ::1 accept",
        f"add rule {T} input ip saddr @v4 drop",
        f"add rule {T} input ip6 saddr @v6 drop",
        f"add rule {T} forward ip saddr 127.0.0.0/8 accept",
        f"add rule {T} forward ip6 saddr ::1 accept",
        f"add rule {T} forward ip saddr @v4 drop",
        f"add rule {T} forward ip6 saddr @v6 drop",
    ]
    assert batch.actions[0] == f"created table {T}"


def test_present_with_the_same_expiry_needs_nothing() -> None:
    b = NftablesBackend()
    same = [
        blk("192.0.2.7", NOW + 99.5),
        blk("192.0.2.8", None),
        blk("198.51.100.0/24", NOW + 3000),
    ]
    assert not b.plan(ready(), add=same, now=NOW + 1)
    assert not b.plan(ready(), remove=[net("192.0.2.99"), net("203.0.113.0/24")], now=NOW)
    assert b.safeguards_ok(ready())


def test_extend_is_add_delete_add_in_one_transaction() -> None:
    batch = NftablesBackend().plan(ready(), add=[blk("192.0.2.7", NOW + 700)], now=NOW + 10)
    assert lines(batch) == [
        f"add table {T}",
        f"add element {T} v4 {{ 192.0.2.7 }}",
        f"delete element {T} v4 {{ 192.0.2.7 }}",
        f"add element {T} v4 {{ 192.0.2.7 timeout 690s }}",
    ]
    assert batch.actions == ["refreshed 192.0.2.7 in v4 (timeout 690s)"]


def test_permanent_block_has_no_timeout() -> None:
    batch = NftablesBackend().plan(ready(), add=[blk("192.0.2.7", None)], now=NOW)
    assert lines(batch)[-1] == f"add element {T} v4 {{ 192.0.2.7 }}"


def test_remove_is_add_then_delete_so_a_vanished_element_is_no_error() -> None:
    batch = NftablesBackend().plan(ready(), remove=[net("198.51.100.0/24")], now=NOW)
    assert lines(batch) == [
        f"add table {T}",
        f"add element {T} net4_24 {{ 198.51.100.0/24 }}",
        f"delete element {T} net4_24 {{ 198.51.100.0/24 }}",
    ]


def test_nested_network_gets_its_own_set_and_rules_are_rewritten_atomically() -> None:
    batch = NftablesBackend().plan(ready(), add=[blk("198.51.100.0/28", NOW + 60)], now=NOW)
    out = lines(batch)
    assert out[:4] == [
        f"add table {T}",
        f"flush chain {T} input",
        f"flush chain {T} forward",
        f"add set {T} net4_28 {{ type ipv4_addr; flags interval, timeout; size 1048576; }}",
    ]
    assert out[4] == f"add element {T} net4_28 {{ 198.51.100.0/28 timeout 60s }}"
    rules = [ln for ln in out if ln.startswith(f"add rule {T} input")]
    assert rules[-3:] == [
        f"add rule {T} input ip saddr @net4_24 drop",
        f"add rule {T} input ip saddr @net4_28 drop",
        f"add rule {T} input ip6 saddr @net6_48 drop",
    ]
    assert rules[0] == f'add rule {T} input iif "lo" accept'


def test_timeouts_are_capped_and_expired_blocks_lifted() -> None:
    b = NftablesBackend()
    out = lines(
        b.plan(ready(), add=[blk("203.0.113.5", NOW + 10**9), blk("192.0.2.8", NOW - 1)], now=NOW)
    )
    assert f"add element {T} v4 {{ 203.0.113.5 timeout 2147483s }}" in out
    assert f"delete element {T} v4 {{ 192.0.2.8 }}" in out


def test_sync_is_exact_per_family_and_drops_emptied_network_sets() -> None:
    wanted = [blk("192.0.2.7", NOW + 99), blk("192.0.2.9", None)]
    out = lines(NftablesBackend().plan_sync(ready(), wanted, [4], now=NOW))
    assert out[:4] == [
        f"add table {T}",
        f"flush chain {T} input",
        f"flush chain {T} forward",
        f"delete set {T} net4_24",
    ]
    assert f"delete element {T} v4 {{ 192.0.2.8 }}" in out
    assert f"add element {T} v4 {{ 192.0.2.9 }}" in out
    assert not any("v6" in ln and "element" in ln for ln in out)  # IPv6 not asked for
    assert f"add rule {T} input ip6 saddr @net6_48 drop" in out
    assert not any("@net4_24" in ln for ln in out)


def test_sync_repairs_flushed_chain_and_flushed_set() -> None:
    def wipe(objs):
        objs[:] = [o for o in objs if "rule" not in o or o["rule"]["chain"] != "input"]
        for o in objs:
            if "set" in o and o["set"]["name"] == "v4":
                del o["set"]["elem"]

    state = ready(data=edited(wipe))
    b = NftablesBackend()
    assert not b.safeguards_ok(state) and net("192.0.2.7") not in b.enforced(state)
    out = lines(
        b.plan_sync(state, [blk("192.0.2.7", NOW + 99), blk("192.0.2.8", None)], [4], now=NOW)
    )
    assert f"flush chain {T} input" in out
    assert f"add element {T} v4 {{ 192.0.2.7 timeout 99s, 192.0.2.8 }}" in out
    assert out.count(f'add rule {T} input iif "lo" accept') == 1


def test_wrong_priority_or_policy_recreates_the_chain() -> None:
    def loosen(objs):
        for o in objs:
            if "chain" in o and o["chain"]["name"] == "forward":
                o["chain"]["policy"] = "drop"

    out = lines(
        NftablesBackend().plan(ready(data=edited(loosen)), add=[], remove=[net("192.0.2.99")])
    )
    assert out.index(f"flush chain {T} forward") < out.index(f"delete chain {T} forward")
    assert out.index(f"delete chain {T} forward") < out.index(
        f"add chain {T} forward {{ type filter hook forward priority filter - 10; policy accept; }}"
    )
    assert f"add rule {T} forward ip saddr @v4 drop" in out


def test_new_size_rebuilds_the_set_keeping_elements() -> None:
    batch = NftablesBackend(maxelem=2000).plan(
        ready(), add=[blk("192.0.2.9", NOW + 50)], now=NOW + 9
    )
    out = lines(batch)
    assert f"delete set {T} v4" in out
    assert f"add set {T} v4 {{ type ipv4_addr; flags timeout; size 2000; }}" in out
    assert (
        f"add element {T} v4 {{ 192.0.2.9 timeout 41s, 192.0.2.7 timeout 90s, 192.0.2.8 }}" in out
    )
    assert out.index(f"flush chain {T} input") < out.index(f"delete set {T} v4")


FOREIGN = [  # another inet table, as `nft -t -j list ruleset inet` shows it next to ours
    {"table": {"family": "inet", "name": "filter", "handle": 9}},
    {"set": {"family": "inet", "name": "v4", "table": "filter", "type": "ipv4_addr"}},
    {
        "chain": {
            "family": "inet",
            "table": "filter",
            "name": "input",
            "type": "filter",
            "hook": "input",
            "prio": 0,
            "policy": "drop",
        }
    },
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": [{"drop": None}]}},
]


def terse() -> NftState:
    """What ``nft -t -j list ruleset inet`` gives: ours without the elements, and any other
    inet table."""

    def strip(objs):
        for o in objs:
            o.get("set", {}).pop("elem", None)
        objs[1:1] = FOREIGN

    return parse_nft_json(edited(strip), (4, 6), NOW, complete=False)


def test_other_tables_are_read_past() -> None:
    state = terse()
    assert state.chains["input"].spec_ok() and state.sets["v4"].type == "ipv4_addr"
    assert len(state.chains["input"].rules) == 7


def test_plan_from_a_terse_snapshot_writes_idempotent_changes() -> None:
    """Without the elements listed (the agent's path: listing 100,000 elements costs a
    second), an add is add+delete+add and a remove add+delete: right whatever the set
    holds."""
    b = NftablesBackend()
    assert lines(b.plan(terse(), add=[blk("192.0.2.7", NOW + 60)], now=NOW)) == [
        f"add table {T}",
        f"add element {T} v4 {{ 192.0.2.7 }}",
        f"delete element {T} v4 {{ 192.0.2.7 }}",
        f"add element {T} v4 {{ 192.0.2.7 timeout 60s }}",
    ]
    assert lines(b.plan(terse(), remove=[net("2001:db8::99")], now=NOW)) == [
        f"add table {T}",
        f"add element {T} v6 {{ 2001:db8::99 }}",
        f"delete element {T} v6 {{ 2001:db8::99 }}",
    ]
    # A network set that does not exist yet is created and filled, rules rewritten.
    out = lines(b.plan(terse(), add=[blk("203.0.113.0/25", None)], now=NOW))
    assert f"add element {T} net4_25 {{ 203.0.113.0/25 }}" in out
    assert f"delete element {T} net4_25 {{ 203.0.113.0/25 }}" not in out
    assert f"add rule {T} forward ip saddr @net4_25 drop" in out
    assert b.safeguards_ok(terse())
    with pytest.raises(ValueError, match="elements"):
        b.plan_sync(terse(), [], [4])
    with pytest.raises(ValueError, match="elements"):
        b.enforced(terse())


def test_enforced_follows_the_families_read() -> None:
    b = NftablesBackend()
    assert b.enforced(ready((4,))) == {net("192.0.2.7"), net("192.0.2.8"), net("198.51.100.0/24")}
    assert b.enforced(ready((6,))) == {net("2001:db8::7"), net("2001:db8:1::/48")}
    assert not b.safeguards_ok(NftState([4, 6], NOW))
