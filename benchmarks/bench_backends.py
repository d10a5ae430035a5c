#!/usr/bin/env python3
"""Firewall backends at scale: loading 100,000 blocks, listing them, and the cost a packet
from a source that is NOT blocked pays for them.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_backends.py``.
Everything happens in private network namespaces this script creates and deletes; the
host's firewall is never touched. Every figure and ratio comes from the same run.

1. Load: in a fresh namespace, one ``plan_sync`` of N IPv4 addresses from an empty
   kernel and one ``apply`` (what ``activeresponse restore`` does), then ``read()`` of
   the N elements and ``enforced()``, then one more block the way an agent alert adds
   it (``operations.apply_change``) with the N present. The timing runs in a process
   inside the namespace (no ``ip netns exec`` in it).
2. Packet path: a sender and a victim namespace joined by a veth pair; the victim holds
   0, 10,000 or 100,000 blocks (none of them the sender); ``iperf3 -u -l 64 -b 0``
   from the sender; the figure is packets per second the victim's iperf3 server
   received (median of the repetitions, taken in turns across all configurations), and
   its ratio to 0 blocks with the same backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VICTIM, SENDER = "198.51.100.1", "198.51.100.2"
PORT = "5201"
LOAD_BACKENDS = ("ipset", "nftables", "iptables-nft", "iptables-legacy")
PACKET_BACKENDS = ("iptables-nft", "ipset", "nftables")


# -- inside a namespace ---------------------------------------------------------------------


def make_backend(name: str):
    if name == "ipset":
        from activeresponse.backends.ipset import IpsetBackend

        return IpsetBackend("nft")
    if name == "nftables":
        from activeresponse.backends.nftables import NftablesBackend

        return NftablesBackend()
    from activeresponse.backends.iptables import IptablesBackend

    return IptablesBackend(name.split("-", 1)[1])


def load(name: str, count: int) -> dict:
    """Block ``count`` addresses (10.0.0.0 upwards) in one batch; time each part."""
    import ipaddress

    from activeresponse.model import Block

    backend = make_backend(name)
    now = time.time()
    blocks = [
        Block(
            ipaddress.ip_network(ipaddress.IPv4Address(0x0A000000 + i)),
            created=now,
            expires=now + 3600,
            origin="import",
        )
        for i in range(count)
    ]
    t0 = time.perf_counter()
    state = backend.read([4])
    t1 = time.perf_counter()
    batch = backend.plan_sync(state, blocks, [4])
    t2 = time.perf_counter()
    backend.apply(batch)
    t3 = time.perf_counter()
    state = backend.read([4])
    t4 = time.perf_counter()
    held = backend.enforced(state)
    t5 = time.perf_counter()
    missing = sum(1 for b in blocks if b.network not in held)
    # One more block, the way every agent alert does it (operations.apply_change: read
    # without the elements where the backend can, plan, apply), with all of them present.
    from activeresponse.operations import apply_change

    extra = Block(ipaddress.ip_network("192.0.2.7"), created=now, expires=now + 600, origin="ossec")
    t6 = time.perf_counter()
    apply_change(backend, add=[extra])
    t7 = time.perf_counter()
    return {
        "read_empty": t1 - t0,
        "plan": t2 - t1,
        "apply": t3 - t2,
        "read_full": t4 - t3,
        "enforced": t5 - t4,
        "one_more": t7 - t6,
        "held": len(held),
        "missing": missing,
        "safeguards_ok": backend.safeguards_ok(state),
        "payload_bytes": sum(len(s.payload) for s in batch.steps),
    }


# -- outside: namespaces, iperf3 ---------------------------------------------------------------


def run_load(ns, name: str, count: int) -> dict:
    argv = [sys.executable, __file__, "--load", name, str(count)]
    done = subprocess.run(ns.exec_argv(argv), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"load {name} {count} failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    if result["missing"] or result["held"] != count or not result["safeguards_ok"]:
        raise SystemExit(f"load {name} {count}: kernel does not hold what was planned: {result}")
    return result


def iperf(victim, sender, seconds: float) -> float:
    """Packets per second the victim received from one ``iperf3 -u -l 64 -b 0`` run."""
    argv = ["iperf3", "-c", VICTIM, "-p", PORT, "-u", "-l", "64", "-b", "0"]
    argv += ["-t", f"{seconds:g}", "-J"]
    problems = []
    for _ in range(5):
        server = subprocess.Popen(
            victim.exec_argv(["iperf3", "-s", "-1", "-p", PORT]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):  # until the server listens
                done = subprocess.run(sender.exec_argv(argv), capture_output=True, text=True)
                report = json.loads(done.stdout or "{}")
                if "refused" not in str(report.get("error", "")):
                    break
                time.sleep(0.1)
            received = report.get("end", {}).get("sum_received")
            if done.returncode == 0 and received and received["seconds"] > 0:
                return (received["packets"] - received["lost_packets"]) / received["seconds"]
            problems.append(report.get("error") or done.stderr.strip() or "no sum_received")
        finally:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    raise SystemExit(f"iperf3 failed 5 times: {problems}")


def packet_paths(configs: list[tuple[str | None, int]], seconds: float, reps: int) -> dict:
    """Median received pps per (backend, blocks) config (backend None: no firewall at
    all). Each config has its own victim/sender pair, all loaded first; the runs then go
    round the configs ``reps`` times, so that load from anything else on the machine
    spreads over all of them rather than skewing one."""
    from contextlib import ExitStack

    from activeresponse.netns import Namespace, link

    with ExitStack() as stack:
        pairs = {}
        for name, count in configs:
            victim = stack.enter_context(Namespace.create("ar-bv"))
            sender = stack.enter_context(Namespace.create("ar-bs"))
            link(victim, [f"{VICTIM}/24"], sender, [f"{SENDER}/24"])
            if name is not None:
                run_load(victim, name, count)
            iperf(victim, sender, 1)  # warm-up: ARP, caches
            pairs[(name, count)] = (victim, sender)
        runs: dict[tuple[str | None, int], list[float]] = {c: [] for c in configs}
        for _ in range(reps):
            for config, (victim, sender) in pairs.items():
                runs[config].append(iperf(victim, sender, seconds))
        return {config: (statistics.median(r), r) for config, r in runs.items()}


def versions() -> str:
    def first(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True).stdout
        except FileNotFoundError:
            return "?"
        return out.strip().splitlines()[0] if out.strip() else "?"

    return (
        f"kernel {os.uname().release}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{first(['nft', '--version'])}, {first(['ipset', '--version'])}, "
        f"{first(['iptables', '-V'])}, {first(['iperf3', '--version'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100000, help="blocks to load")
    parser.add_argument(
        "--sizes", default="0,10000,100000", help="block counts for the packet path"
    )
    parser.add_argument("--seconds", type=float, default=3, help="iperf3 -t per run")
    parser.add_argument("--reps", type=int, default=5, help="iperf3 runs per figure")
    parser.add_argument("--no-packets", action="store_true", help="load timings only")
    parser.add_argument("--load", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(args.load[0], int(args.load[1]))))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates private network namespaces")
    from activeresponse.netns import Namespace

    print(versions())
    print(f"\n1. Block {args.count:,} IPv4 addresses in one batch, from an empty kernel")
    print(
        f"{'backend':16} {'read':>7} {'plan':>7} {'apply':>7} {'= total s':>10} "
        f"{'read() full':>12} {'enforced()':>11} {'payload MB':>11} {'+1 block s':>11}"
    )
    loads = {}
    for name in LOAD_BACKENDS:
        with Namespace.create("ar-bl") as ns:
            r = run_load(ns, name, args.count)
        loads[name] = r
        total = r["read_empty"] + r["plan"] + r["apply"]
        print(
            f"{name:16} {r['read_empty']:7.3f} {r['plan']:7.3f} {r['apply']:7.3f} "
            f"{total:10.3f} {r['read_full']:12.3f} {r['enforced']:11.3f} "
            f"{r['payload_bytes'] / 1e6:11.2f} {r['one_more']:11.3f}"
        )
    if args.no_packets:
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"\n2. UDP 64-byte packets from a source that is not blocked, received pps "
        f"(iperf3 -u -l 64 -b 0 -t {args.seconds:g}, median of {args.reps}, interleaved)"
    )
    configs: list[tuple[str | None, int]] = [(None, 0)]
    configs += [(name, size) for name in PACKET_BACKENDS for size in sizes]
    results = packet_paths(configs, args.seconds, args.reps)
    bare, bare_runs = results[(None, 0)]
    print(f"{'no firewall rules at all':26} {bare:10,.0f}   runs: {_runs(bare_runs)}")
    print(f"{'backend':16} {'blocks':>9} {'pps':>10} {'ratio to 0 blocks':>18}   runs")
    for name in PACKET_BACKENDS:
        base = results[(name, 0)][0] if 0 in sizes else None
        for size in sizes:
            pps, runs = results[(name, size)]
            ratio = f"{pps / base:18.3f}" if base else f"{'-':>18}"
            print(f"{name:16} {size:9,} {pps:10,.0f} {ratio}   {_runs(runs)}")


def _runs(values: list[float]) -> str:
    return " ".join(f"{v / 1000:.0f}k" for v in values)


if __name__ == "__main__":
    main()
