#!/usr/bin/env python3
"""The scale figures of activeresponse, per backend, measured in one run:

1. one ``firewall-drop add`` process (200 blocks present) vs the shell baseline, two
   ``iptables -I`` processes (what OSSEC's script does);
2. 100,000 addresses blocked with one ``activeresponse import`` (guard, ledger, kernel),
   vs one process per address (the shell baseline timed for 1,000, extrapolated);
3. ``activeresponse expire`` with 100,000 ledger rows of which 10,000 are due;
4. ``activeresponse list --json`` with 100,000 blocks;
5. packet path: UDP throughput from a source that is NOT blocked with 0, 10,000 and
   100,000 blocks present, as a ratio to 0 blocks (benchmarks/bench_backends.py).

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_scale.py``
(about 6 minutes; ``--quick`` for 10,000 instead of 100,000 and no packet path).
Everything runs inside private network namespaces this script creates and deletes;
the host's firewall is never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BACKENDS = {  # name -> (config backend, iptables variant)
    "iptables-nft": ("iptables", "nft"),
    "iptables-legacy": ("iptables", "legacy"),
    "ipset": ("ipset", "nft"),
    "nftables": ("nftables", "nft"),
}
CLI = str(Path(sys.executable).with_name("activeresponse"))


def addresses(n: int, second: int = 0) -> list[str]:
    return [f"10.{1 + second + i // 65025}.{1 + (i // 255) % 255}.{1 + i % 255}" for i in range(n)]


class Box:
    """An agent tree + config in a temp dir, for one backend, run inside ``ns``."""

    def __init__(self, ns, backend: str) -> None:
        from agenttree import make_agent_tree

        self.ns = ns
        self.work = Path(tempfile.mkdtemp(prefix="ar-scale-"))
        (self.exe,) = make_agent_tree(self.work)
        kind, variant = BACKENDS[backend]
        self.config = self.work / "config.toml"
        self.config.write_text(
            f'state_dir = "{self.work}/state"\nlock_file = "{self.work}/lock"\n'
            f'log_file = "{self.work}/ar.log"\nbackend = "{kind}"\n'
            f'iptables_variant = "{variant}"\nagent_root = "{self.work}/ossec"\n'
            "widest_block_v4 = 8\n"
        )
        self.config.chmod(0o600)
        self.env = {**os.environ, "ACTIVERESPONSE_CONFIG": str(self.config)}

    def timed(self, argv: list[str], stdin: str | None = None) -> float:
        start = time.perf_counter()
        done = subprocess.run(self.ns.exec_argv(argv), env=self.env, input=stdin, text=True,
                              capture_output=True)  # fmt: skip
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"failed: {argv[:3]}: {done.stderr.strip()[:300]}")
        return elapsed

    def cli(self, *args: str, stdin: str | None = None) -> float:
        return self.timed([CLI, "--config", str(self.config), *args], stdin)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def floor_ms(ns) -> float:
    """What `ip netns exec` itself costs, subtracted from single-process figures."""
    return statistics.median(_time(ns.exec_argv(["true"])) for _ in range(20)) * 1000


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def single_add(backend: str, runs: int) -> float:
    from activeresponse.netns import Namespace

    with Namespace.create("ar-sc") as ns:
        box = Box(ns, backend)
        try:
            box.cli("import", "-", stdin="\n".join(addresses(200, 100)))
            box.timed([str(box.exe), "add", "-", "10.99.0.1", "1", "1"])  # warm caches
            times = [box.timed([str(box.exe), "add", "-", a, "1.1", "100"])
                     for a in addresses(runs)]  # fmt: skip
            return statistics.median(times) * 1000 - floor_ms(ns)
        finally:
            box.close()


def shell_baseline(count: int) -> tuple[float, float]:
    """(median ms of one 2x iptables -I process, seconds for ``count`` such processes)."""
    from activeresponse.netns import Namespace

    with Namespace.create("ar-sc") as ns:
        floor = floor_ms(ns)
        times = []
        for a in addresses(count):
            times.append(_time(ns.exec_argv(["sh", "-c", f"iptables -I INPUT -s {a} -j DROP; "
                                             f"iptables -I FORWARD -s {a} -j DROP"])))  # fmt: skip
        return statistics.median(times[:50]) * 1000 - floor, sum(times) - floor / 1000 * count


def at_scale(backend: str, count: int, due: int) -> dict[str, float]:
    from activeresponse.netns import Namespace

    with Namespace.create("ar-sc") as ns:
        box = Box(ns, backend)
        try:
            out = {"import": box.cli("import", "-", stdin="\n".join(addresses(count)))}
            out["list"] = box.cli("list", "--json")
            box.cli("flush", "--yes")
            lines = [f"{a} 1" for a in addresses(due)]
            lines += [f"{a} 1d" for a in addresses(count - due, 40)]
            box.cli("import", "-", stdin="\n".join(lines))
            time.sleep(1.5)
            out["expire"] = box.cli("expire")
            return out
        finally:
            box.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 blocks, no packet path")
    parser.add_argument("--no-packets", action="store_true", help="skip the packet path")
    parser.add_argument("--runs", type=int, default=30, help="single-add processes per backend")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates private network namespaces")
    count = 10_000 if args.quick else 100_000
    due = count // 10

    print(f"Python {sys.version.split()[0]}, kernel {os.uname().release}; figures exclude "
          "`ip netns exec` where marked\n")  # fmt: skip
    base_ms, base_1000 = shell_baseline(1000)
    print(
        "1. One firewall-drop add process, 200 blocks present (median, ms, without ip netns exec)"
    )
    print(f"   {'2x iptables -I (shell baseline)':34} {base_ms:7.1f}")
    for backend in BACKENDS:
        ms = single_add(backend, args.runs)
        print(f"   {'firewall-drop add, ' + backend:34} {ms:7.1f}   ratio {ms / base_ms:5.2f}")

    print(f"\n2-4. {count:,} blocks, through the CLI (seconds, wall, including process start)")
    per_process = base_1000 * count / 1000
    print(
        f"   one 2x iptables -I process per address: {base_1000:.1f} s for 1,000 -> "
        f"{per_process:,.0f} s for {count:,} (extrapolated)"
    )
    print(f"   {'backend':16} {'import':>8} {'vs per-process':>15} {'expire ' + str(due):>13} "
          f"{'list --json':>12}")  # fmt: skip
    for backend in BACKENDS:
        r = at_scale(backend, count, due)
        print(f"   {backend:16} {r['import']:8.2f} {per_process / r['import']:14.0f}x "
              f"{r['expire']:13.2f} {r['list']:12.2f}")  # fmt: skip
    if args.quick or args.no_packets:
        return
    import bench_backends

    print("\n5. Packet path: UDP 64-byte packets from a source that is not blocked "
          "(iperf3, median of 5, pps)")  # fmt: skip
    sizes = (0, 10_000, 100_000)
    configs = [(name, size) for name in bench_backends.PACKET_BACKENDS for size in sizes]
    results = bench_backends.packet_paths(configs, 3, 5)
    for name in bench_backends.PACKET_BACKENDS:
        zero = results[(name, 0)][0]
        pps = {size: results[(name, size)][0] for size in sizes}
        cells = "  ".join(f"{n:>7,}: {pps[n]:9,.0f} ({pps[n] / zero:4.2f})" for n in sizes)
        print(f"   {name:14} {cells}")


if __name__ == "__main__":
    main()
