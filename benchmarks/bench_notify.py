#!/usr/bin/env python3
"""Does a notification cost firewall-drop's ``add`` anything? Wall time of one process
per call with notifications off and on, interleaved (off, on, on... per round) so every
mode sees the same machine load and the same chain length.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_notify.py``.
Like bench_agent.py it creates a private network namespace, re-runs itself inside it and
never touches the host's firewall.

Modes (notifications go to a command channel, ``cat >/dev/null``; the agent's path is
the same for e-mail, which is only spooled there):
- ``off``: notify_enabled = false;
- ``spool``: on, the event only spooled (notify_background = false: cron sends);
- ``spool+kick``: on, with the background sender (default gather of 10 s: during a
  burst one sender lingers and later calls only see its lock);
- ``spool+kick/0``: on, background sender with notify_gather_seconds = 0 (a sender is
  started by nearly every call: the worst case).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_agent import addr, flush  # noqa: E402

MODES = {
    "off": "notify_enabled = false\n",
    "spool": "notify_enabled = true\nnotify_background = false\n",
    "spool+kick": "notify_enabled = true\n",
    "spool+kick/0": "notify_enabled = true\nnotify_gather_seconds = 0\n",
}


def run(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {argv}: {done.stderr.decode().strip()}")
    return elapsed


def wazuh_input(address: str) -> bytes:
    message = {
        "version": 1,
        "origin": {"name": "", "module": "wazuh-execd"},
        "command": "add",
        "parameters": {
            "extra_args": [],
            "alert": {
                "rule": {"level": 10, "description": "bench", "id": 5712, "groups": ["sshd"]},
                "location": "/var/log/secure",
                "full_log": f"sshd[1]: Failed password for root from {address} port 1 ssh2",
                "data": {"srcip": address, "dstuser": "root"},
            },
            "program": "active-response/bin/firewall-drop",
        },
    }
    answer = dict(message, command="continue")
    return (json.dumps(message) + "\n" + json.dumps(answer) + "\n").encode()


def inside(n: int, preload: int) -> None:
    from agenttree import make_agent_tree

    work = Path(tempfile.mkdtemp(prefix="ar-bench-notify-"))
    atexit.register(shutil.rmtree, work, True)  # leave nothing behind
    ossec_exe, wazuh_exe = make_agent_tree(work, ("firewall-drop.sh", "firewall-drop"))
    flush("nft")
    envs = {}
    for i, (mode, extra) in enumerate(MODES.items()):
        cfg = work / f"config-{i}.toml"
        cfg.write_text(
            f'state_dir = "{work}/state-{i}"\nlock_file = "{work}/run/lock"\n'
            f'log_file = "{work}/ar.log"\niptables_variant = "nft"\n'
            'notify_command = ["sh", "-c", "cat >/dev/null"]\n' + extra
        )
        cfg.chmod(0o600)
        envs[mode] = {**os.environ, "ACTIVERESPONSE_CONFIG": str(cfg)}
    # Preload the chain (the kernel is shared by the modes; each has its own ledger).
    for i in range(preload):
        run([str(ossec_exe), "add", "-", addr(i, 200), "1.1", "100"], envs["off"])

    times: dict[tuple[str, str], list[float]] = {}
    for form in ("ossec", "wazuh"):
        for k, mode in enumerate(MODES):  # warm the config cache and bytecode per mode
            run([str(ossec_exe), "add", "-", addr(k, 99), "1", "1"], envs[mode])
        for i in range(n):
            for k, mode in enumerate(MODES):
                address = addr(i, 10 + k + (0 if form == "ossec" else 50))
                if form == "ossec":
                    argv = [str(ossec_exe), "add", "-", address, "1.1", "5712", "/var/log/secure"]
                    elapsed = run(argv, envs[mode])
                else:
                    elapsed = run([str(wazuh_exe)], envs[mode], wazuh_input(address))
                times.setdefault((form, mode), []).append(elapsed)
    time.sleep(1)
    print(
        f"\nfirewall-drop add, one process per call, median of {n} interleaved runs, "
        f"{preload} blocks present, iptables-nft "
        f"(Python {sys.version.split()[0]}, {os.uname().release})\n"
    )
    print(f"{'form':6} {'mode':14} {'median ms':>10} {'p90 ms':>8} {'vs off':>8}")
    for form in ("ossec", "wazuh"):
        base = statistics.median(times[(form, "off")])
        for mode in MODES:
            values = times[(form, mode)]
            med = statistics.median(values)
            p90 = sorted(values)[int(len(values) * 0.9) - 1]
            print(
                f"{form:6} {mode:14} {med * 1000:10.1f} {p90 * 1000:8.1f} "
                f"{(med - base) * 1000:+7.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40, help="runs per mode (default 40)")
    parser.add_argument("--preload", type=int, default=200, help="blocks present (200)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.n, args.preload)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates a private network namespace")
    from activeresponse.netns import Namespace

    with Namespace.create("ar-bench") as ns:
        argv = [sys.executable, __file__, "--inside", "-n", str(args.n)]
        subprocess.run(ns.exec_argv([*argv, "--preload", str(args.preload)]), check=True)


if __name__ == "__main__":
    main()
