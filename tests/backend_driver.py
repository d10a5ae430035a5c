"""Drive a backend's API inside a network namespace, for the integration tests.

Run as ``ip netns exec NS python backend_driver.py BACKEND [MAXELEM]`` with a JSON list of
operations on stdin; prints one JSON list of results. Blocks are given as
``[network, seconds-from-now or null]``. Operations:

- ``{"op": "plan", "add": [...], "remove": [networks], "stale": seconds, "elements":
  bool}``: read (``elements`` false: ``read_for_change``, as operations does),
  wait ``stale`` seconds (so the kernel may expire elements the snapshot still shows),
  plan, apply;
- ``{"op": "sync", "blocks": [...], "families": [4, 6]}``: read, plan_sync, apply;
- ``{"op": "sync_range", "count": N}``: plan_sync of N IPv4 addresses 10.x.y.z, apply;
- ``{"op": "read"}``: what ``enforced()`` and ``safeguards_ok()`` say;
- ``{"op": "count", "count": N}``: how many of those N addresses ``enforced()`` holds.

Every plan/sync result is ``{"actions": [...], "steps": n}``; applying an empty batch is
skipped, as ``operations`` does.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time


def make(name: str, maxelem: int):
    if name == "ipset":
        from activeresponse.backends.ipset import IpsetBackend

        return IpsetBackend("nft", maxelem)
    if name == "nftables":
        from activeresponse.backends.nftables import NftablesBackend

        return NftablesBackend(maxelem)
    from activeresponse.backends.iptables import IptablesBackend

    return IptablesBackend(name.split("-", 1)[1])


def blocks(items: list, now: float) -> list:
    from activeresponse.model import Block

    return [
        Block(
            ipaddress.ip_network(net),
            created=now,
            expires=None if ttl is None else now + ttl,
            origin="admin",
        )
        for net, ttl in items
    ]


def many(count: int) -> list:
    from activeresponse.model import Block

    now = time.time()
    return [
        Block(
            ipaddress.ip_network(ipaddress.IPv4Address(0x0A000000 + i)),
            created=now,
            expires=now + 3600,
            origin="admin",
        )
        for i in range(count)
    ]


def run(backend, op: dict) -> dict:
    kind = op["op"]
    if kind == "read":
        state = backend.read()
        return {
            "enforced": sorted(str(n) for n in backend.enforced(state)),
            "ok": backend.safeguards_ok(state),
        }
    if kind == "count":
        held = backend.enforced(backend.read([4]))
        return {"held": sum(1 for b in many(op["count"]) if b.network in held), "total": len(held)}
    if kind == "plan":
        families = sorted(
            {ipaddress.ip_network(n).version for n, _ in op.get("add", [])}
            | {ipaddress.ip_network(n).version for n in op.get("remove", [])}
        )
        if op.get("elements", True):
            state = backend.read(families)
        else:
            state = backend.read_for_change(families)
        time.sleep(op.get("stale", 0))
        batch = backend.plan(
            state,
            add=blocks(op.get("add", []), time.time()),
            remove=[ipaddress.ip_network(n) for n in op.get("remove", [])],
        )
    elif kind == "sync":
        families = op.get("families", [4, 6])
        batch = backend.plan_sync(
            backend.read(families), blocks(op["blocks"], time.time()), families
        )
    elif kind == "sync_range":
        batch = backend.plan_sync(backend.read([4]), many(op["count"]), [4])
    else:
        raise SystemExit(f"unknown op {kind}")
    if batch:
        backend.apply(batch)
    return {"actions": batch.actions if len(batch.actions) < 50 else [], "steps": len(batch.steps)}


def main() -> None:
    backend = make(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1048576)
    ops = json.loads(sys.stdin.read())
    print(json.dumps([run(backend, op) for op in ops]))


if __name__ == "__main__":
    main()
