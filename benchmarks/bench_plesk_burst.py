#!/usr/bin/env python3
"""A burst of concurrent ``firewall-drop add`` processes on a (simulated) Plesk server:
how many Plesk applies and CLI calls it becomes, and how long until the last block is in
the kernel.

Run as root from the repository::

    sudo .venv/bin/python benchmarks/bench_plesk_burst.py --blocks 50 --apply-seconds 1
    sudo .venv/bin/python benchmarks/bench_plesk_burst.py --blocks 50 --apply-seconds 3 \\
        --cli-seconds 0.5     # closer to a real Plesk: every CLI call pays PHP start-up

Everything happens in a private network namespace and a temp dir (a fake Plesk tree from
tests/plesk_sim, an OSSEC agent tree); the host's firewall is never touched.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from plesk_sim import make_tree  # noqa: E402
from sandbox import AgentSandbox  # noqa: E402

from activeresponse.netns import Namespace  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=50)
    parser.add_argument("--apply-seconds", type=float, default=1.0)
    parser.add_argument("--cli-seconds", type=float, default=0.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="ar-bench-plesk-") as tmp,
        Namespace.create("ar-bench") as ns,
    ):
        root = Path(tmp)
        fake = make_tree(root / "plesk")
        fake.configure(apply_seconds=args.apply_seconds, cli_seconds=args.cli_seconds)
        extra = f'backend = "plesk"\nplesk_root = "{fake.root}"\n'
        box = AgentSandbox(root / "agent", ns, "nft", config_extra=extra)
        try:
            start = time.time()
            procs = [
                box.ossec_popen("add", "-", f"10.9.{i // 250}.{i % 250 + 1}", f"1.{i}", "5712")
                for i in range(args.blocks)
            ]
            codes = [p.wait() for p in procs]
            elapsed = time.time() - start
            applies = fake.applies()
            overlaps = sum(b["start"] < a["end"] for a, b in zip(applies, applies[1:]))
            refused = len(fake.refused_applies())
            calls = collections.Counter(c["verb"] for c in fake.calls())
            in_kernel = sum(
                r.endswith("-j DROP") and r.startswith("-s 10.9.") for r in box.rules("INPUT")
            )
        finally:
            box.cleanup()
    print(
        f"{args.blocks} concurrent firewall-drop add, apply {args.apply_seconds:g}s, "
        f"CLI start-up {args.cli_seconds:g}s"
    )
    print(f"  exit codes: {dict(collections.Counter(codes))}")
    print(f"  applies: {len(applies)} (overlapping: {overlaps}, refused: {refused})")
    print(f"  CLI calls: {dict(calls)}")
    print(f"  blocks in the kernel: {in_kernel}/{args.blocks}")
    print(
        f"  last process exited after {elapsed:.1f}s; last apply ended "
        f"{(applies[-1]['end'] - start) if applies else 0:.1f}s after the burst began"
    )
    return 0 if in_kernel == args.blocks and not overlaps and set(codes) == {0} else 1


if __name__ == "__main__":
    sys.exit(main())
