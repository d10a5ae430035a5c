#!/usr/bin/env python3
"""Wall time of one ``firewall-drop add`` / ``delete`` process, next to shell baselines.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_agent.py``.
It creates a private network namespace, re-runs itself inside it (so no ``ip netns
exec`` overhead is timed) and never touches the host's firewall.

Baselines (same namespace, same addresses):
- ``2x iptables -I``: what OSSEC's firewall-drop.sh does to the kernel, nothing else;
- ``ossec-like sh``: a shell script doing the same job the way OSSEC 2.7's script does
  (log line with ``date``, mkdir lock, two ``iptables -I``, unlock);
- ``python -IS -c pass``: the floor any Python executable pays to start.
"""

from __future__ import annotations

import argparse
import atexit
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

OSSEC_LIKE = r"""#!/bin/sh
# Stand-in for OSSEC 2.7 firewall-drop.sh's work per call (written for this benchmark).
LOG="$(dirname "$0")/active-responses.log"
echo "`date` $0 $1 $2 $3 $4 $5" >> "$LOG"
LOCK="$(dirname "$0")/fw-drop"
while ! mkdir "$LOCK" 2>/dev/null; do sleep 1; done
if [ "$1" = add ]; then OP=-I; else OP=-D; fi
iptables $OP INPUT -s "$3" -j DROP
iptables $OP FORWARD -s "$3" -j DROP
rmdir "$LOCK"
"""


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {argv}: {done.stderr.decode().strip()}")
    return elapsed


def series(make_argv, n: int, env: dict[str, str] | None = None) -> list[float]:
    return [timed(make_argv(i), env) for i in range(n)]


def addr(i: int, base: int) -> str:
    return f"10.{base}.{i // 256}.{i % 256}"


def flush(variant: str) -> None:
    for tool in (f"iptables-{variant}", f"ip6tables-{variant}"):
        for args in (["-F"], ["-X"]):
            subprocess.run([tool, *args], check=True)


def inside(n: int, preload: int) -> None:
    from agenttree import make_agent_tree

    work = Path(tempfile.mkdtemp(prefix="ar-bench-"))
    atexit.register(shutil.rmtree, work, True)  # leave nothing behind
    (exe,) = make_agent_tree(work)
    shell = work / "ossec-like.sh"
    shell.write_text(OSSEC_LIKE)
    shell.chmod(0o755)

    rows: list[tuple[str, list[float]]] = []
    for variant in ("nft", "legacy"):
        cfg = work / f"config-{variant}.toml"
        cfg.write_text(
            f'state_dir = "{work}/state-{variant}"\nlock_file = "{work}/lock"\n'
            f'log_file = "{work}/ar.log"\niptables_variant = "{variant}"\n'
        )
        cfg.chmod(0o600)
        env = {**os.environ, "ACTIVERESPONSE_CONFIG": str(cfg)}
        flush(variant)
        # Preload blocks so the chains look like a host that has been under attack a while.
        for i in range(preload):
            timed([str(exe), "add", "-", addr(i, 200), "1.1", "100"], env)
        timed([str(exe), "add", "-", "10.99.0.1", "1", "1"], env)  # warm caches
        rows.append(
            (
                f"firewall-drop add ({variant})",
                series(lambda i: [str(exe), "add", "-", addr(i, 1), "1.1", "100"], n, env),
            )
        )
        rows.append(
            (
                f"firewall-drop delete ({variant})",
                series(lambda i: [str(exe), "delete", "-", addr(i, 1), "1.1", "100"], n, env),
            )
        )
        flush(variant)
        ipt = f"iptables-{variant}"
        for i in range(preload):
            subprocess.run([ipt, "-I", "INPUT", "-s", addr(i, 200), "-j", "DROP"], check=True)
            subprocess.run([ipt, "-I", "FORWARD", "-s", addr(i, 200), "-j", "DROP"], check=True)
        rows.append(
            (
                f"2x iptables -I ({variant})",
                series(
                    lambda i, ipt=ipt: [
                        "sh",
                        "-c",
                        f"{ipt} -I INPUT -s {addr(i, 2)} -j DROP; "
                        f"{ipt} -I FORWARD -s {addr(i, 2)} -j DROP",
                    ],
                    n,
                ),
            )
        )
        link = work / "bin"
        link.mkdir(exist_ok=True)
        for tool in ("iptables",):
            target = link / tool
            if target.exists():
                target.unlink()
            target.symlink_to(f"/usr/sbin/{tool}-{variant}")
        shell_env = {**os.environ, "PATH": f"{link}:{os.environ.get('PATH', '')}"}
        rows.append(
            (
                f"ossec-like sh add ({variant})",
                series(lambda i: [str(shell), "add", "-", addr(i, 3), "1.1", "100"], n, shell_env),
            )
        )
        rows.append(
            (
                f"ossec-like sh delete ({variant})",
                series(
                    lambda i: [str(shell), "delete", "-", addr(i, 3), "1.1", "100"], n, shell_env
                ),
            )
        )
        flush(variant)
    rows.append(("python -IS -c pass", series(lambda i: [sys.executable, "-IS", "-c", "pass"], n)))

    med = {name: statistics.median(values) * 1000 for name, values in rows}
    print(
        f"\nOne process per call, median of {n} runs, {preload} blocks already present "
        f"(Python {sys.version.split()[0]}, {os.uname().release})\n"
    )
    print(f"{'command':34} {'median ms':>10} {'p90 ms':>8}")
    for name, values in rows:
        p90 = sorted(values)[int(len(values) * 0.9) - 1] * 1000
        print(f"{name:34} {med[name]:10.1f} {p90:8.1f}")
    print("\nratios (firewall-drop / baseline):")
    for variant in ("nft", "legacy"):
        for op in ("add", "delete"):
            ours = med[f"firewall-drop {op} ({variant})"]
            shell = ours / med[f"ossec-like sh {op} ({variant})"]
            bare = ours / med[f"2x iptables -I ({variant})"]
            extra = f"   vs 2x iptables -I {bare:5.2f}" if op == "add" else ""
            print(f"  {variant:6} {op:6} vs ossec-like sh {shell:5.2f}{extra}")
    print(f"  interpreter floor: python -IS -c pass = {med['python -IS -c pass']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40, help="runs per command (default 40)")
    parser.add_argument(
        "--preload",
        type=int,
        default=200,
        help="blocks present before timing (default 200, as in design.md)",
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.n, args.preload)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates a private network namespace")
    from activeresponse.netns import Namespace

    with Namespace.create("ar-bench") as ns:
        subprocess.run(
            ns.exec_argv(
                [
                    sys.executable,
                    __file__,
                    "--inside",
                    "-n",
                    str(args.n),
                    "--preload",
                    str(args.preload),
                ]
            ),
            check=True,
        )


if __name__ == "__main__":
    main()
