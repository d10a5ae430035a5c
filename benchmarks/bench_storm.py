#!/usr/bin/env python3
"""A storm: 200 firewall-drop processes started at once (what execd does during a
distributed attack), per backend, next to shell baselines doing the same work.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_storm.py``.
Everything runs in private network namespaces this script creates and deletes.

Baselines: 200 concurrent ``sh -c 'iptables -I INPUT ...; iptables -I FORWARD ...'``
(the kernel work of OSSEC's script, no lock, no log) and 200 concurrent runs of an
OSSEC-2.7-like script (log line, ``mkdir`` lock with ``sleep 1`` retries, two ``-I``).
Afterwards the kernel is checked: every address blocked exactly once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_agent import OSSEC_LIKE  # noqa: E402
from bench_scale import BACKENDS, CLI, Box, addresses  # noqa: E402


def storm(argvs: list[list[str]], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen(a, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for a in argvs]  # fmt: skip
    failed = [p.args for p in procs if p.wait() != 0]
    if failed:
        raise SystemExit(f"{len(failed)} process(es) failed, e.g. {failed[0]}")
    return time.perf_counter() - start


def ours(backend: str, n: int) -> tuple[float, int]:
    from activeresponse.netns import Namespace

    with Namespace.create("ar-st") as ns:
        box = Box(ns, backend)
        try:
            wall = storm([ns.exec_argv([str(box.exe), "add", "-", a, f"1.{i}", "5712"])
                          for i, a in enumerate(addresses(n))], box.env)  # fmt: skip
            export = ns.exec_argv([CLI, "--config", str(box.config), "export"])
            listed = subprocess.run(export, capture_output=True, text=True).stdout
            return wall, len(listed.splitlines())
        finally:
            box.close()


def shell(n: int, ossec_like: bool) -> tuple[float, int]:
    from activeresponse.netns import Namespace

    with Namespace.create("ar-st") as ns:
        work = Path(f"/tmp/ar-storm-{os.getpid()}")
        work.mkdir(exist_ok=True)
        script = work / "fw.sh"
        script.write_text(OSSEC_LIKE)
        script.chmod(0o755)
        if ossec_like:
            argvs = [
                ns.exec_argv([str(script), "add", "-", a, "1.1", "5712"]) for a in addresses(n)
            ]
        else:
            argvs = [ns.exec_argv(["sh", "-c", f"iptables -w -I INPUT -s {a} -j DROP; "
                                   f"iptables -w -I FORWARD -s {a} -j DROP"])
                     for a in addresses(n)]  # fmt: skip
        wall = storm(argvs)
        rules = ns.run(["iptables-save"]).stdout.count("-A INPUT -s 10.")
        for f in work.iterdir():
            f.unlink() if f.is_file() else f.rmdir()
        work.rmdir()
        return wall, rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200, help="processes at once (default 200)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates private network namespaces")
    print(f"{args.n} processes started at once, one distinct address each; wall time until "
          "the last exits; blocks counted in the kernel afterwards\n")  # fmt: skip
    bare, bare_rules = shell(args.n, ossec_like=False)
    print(f"{'2x iptables -I per process (no lock)':40} {bare:7.2f} s   {bare_rules} blocked")
    like, like_rules = shell(args.n, ossec_like=True)
    print(f"{'OSSEC-2.7-like script (mkdir lock)':40} {like:7.2f} s   {like_rules} blocked")
    for backend in BACKENDS:
        wall, blocked = ours(backend, args.n)
        print(
            f"{'firewall-drop, ' + backend:40} {wall:7.2f} s   {blocked} blocked   "
            f"ratio to the OSSEC-like script {wall / like:5.2f}"
        )


if __name__ == "__main__":
    main()
