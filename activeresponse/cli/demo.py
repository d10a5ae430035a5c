"""``activeresponse demo``: the whole job, end to end, in a throwaway sandbox.

Two private network namespaces (victim and attacker) joined by a veth pair, an OSSEC
agent tree in a temp dir served by our firewall-drop, real packets. Nothing outside the
namespaces and the temp dir is touched, and all of it is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import click

from .. import errors
from ..launcher import write_launcher
from ..netns import Namespace, link, pings
from ..runner import run, which

VICTIM = ("192.0.2.1", "2001:db8::1")
ATTACKER = ("192.0.2.66", "2001:db8::66")
MANAGER = "203.0.113.50"
REQUIRED = ("ip", "iptables", "ip6tables", "ping")


class Demo:
    def __init__(self, work: str, victim: Namespace, attacker: Namespace) -> None:
        self.work = work
        self.victim = victim
        self.attacker = attacker
        self.failures = 0
        agent = os.path.join(work, "ossec")
        for sub in ("active-response/bin", "etc/shared", "logs"):
            os.makedirs(os.path.join(agent, sub))
        self.exe = os.path.join(agent, "active-response/bin/firewall-drop.sh")
        write_launcher(self.exe)
        with open(os.path.join(agent, "etc/ossec.conf"), "w") as fh:
            fh.write(
                f"<ossec_config>\n  <client>\n    <server-ip>{MANAGER}</server-ip>\n"
                "  </client>\n</ossec_config>\n"
            )
        with open(os.path.join(agent, "etc/shared/ar.conf"), "w") as fh:
            fh.write("firewall-drop600 - firewall-drop.sh - 600\n")
        self.ar_log = os.path.join(agent, "logs/active-responses.log")
        self.config = os.path.join(work, "config.toml")
        with open(self.config, "w") as fh:
            fh.write(
                f'state_dir = "{work}/state"\nlock_file = "{work}/lock"\n'
                f'log_file = "{work}/activeresponse.log"\n'
            )

    def check(self, ok: bool, text: str) -> None:
        click.echo(f"  [{'ok' if ok else 'FAILED'}] {text}")
        self.failures += not ok

    def traffic(self, expect: bool) -> None:
        for victim, source in zip(VICTIM, ATTACKER):
            flows = pings(self.attacker, victim, count=1 if expect else 2)
            state = "flows" if flows else "is dropped"
            self.check(flows == expect, f"ping {source} -> {victim}: traffic {state}")

    def agent(self, *args: str) -> int:
        argv = self.victim.exec_argv([self.exe, *args])
        click.echo(f"  $ {' '.join(argv[4:])}")
        done = run(argv, check=False, env={"ACTIVERESPONSE_CONFIG": self.config})
        if done.stderr.strip():
            click.echo(f"    {done.stderr.strip()}")
        click.echo(f"    exit {done.returncode}")
        return done.returncode

    def show_rules(self) -> None:
        for tool in ("iptables", "ip6tables"):
            click.echo(f"  $ {tool} -L INPUT -n --line-numbers   (inside the victim namespace)")
            out = self.victim.run([tool, "-L", "INPUT", "-n", "--line-numbers"]).stdout
            click.echo("".join(f"    {line}\n" for line in out.splitlines()), nl=False)
        out = self.victim.run(["iptables", "-S", "ACTIVERESPONSE"], check=False).stdout
        click.echo("  $ iptables -S ACTIVERESPONSE")
        click.echo("".join(f"    {line}\n" for line in out.splitlines()), nl=False)

    def run_story(self) -> None:
        click.echo("\n1. Before any block, the attacker reaches the victim")
        self.traffic(True)
        click.echo(
            "\n2. The OSSEC agent on the victim runs firewall-drop.sh add for both addresses"
        )
        for i, source in enumerate(ATTACKER):
            self.check(
                self.agent("add", "-", source, f"1733333333.{i}", "5712") == 0, f"blocked {source}"
            )
        self.show_rules()
        self.traffic(False)
        click.echo("\n3. The guard refuses what must never be blocked (loopback, the manager)")
        for address in ("127.0.0.1", MANAGER):
            self.check(
                self.agent("add", "-", address, "1733333333.9", "5712") == errors.REFUSED,
                f"refused {address}",
            )
        click.echo("\n4. The agent's timeout fires: firewall-drop.sh delete")
        for i, source in enumerate(ATTACKER):
            self.check(
                self.agent("delete", "-", source, f"1733333333.{i}", "5712") == 0,
                f"unblocked {source}",
            )
        self.traffic(True)
        click.echo(f"\n5. What the manager's decoders read ({self.ar_log}):")
        with open(self.ar_log) as fh:
            click.echo("".join(f"    {line}" for line in fh))


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temp dir (ledger, logs) for a look.")
def command(keep: bool) -> int:
    """Show the whole job in a throwaway sandbox (needs root; never touches the host firewall).

    Creates two private network namespaces (victim, attacker) joined by a veth pair,
    blocks and unblocks the attacker through the OSSEC protocol, and checks with real
    packets that traffic stops and flows again. Exit 0 when every check passed.
    """
    if os.geteuid() != 0:
        raise errors.UsageError("demo needs root (it creates network namespaces)")
    missing = [tool for tool in REQUIRED if which(tool) is None]
    if missing:
        raise errors.UsageError(
            f"demo needs {', '.join(missing)} (apt-get install iproute2 iptables iputils-ping)"
        )
    work = tempfile.mkdtemp(prefix="activeresponse-demo-")
    victim = attacker = None
    try:
        victim = Namespace.create("ar-demo-victim")
        attacker = Namespace.create("ar-demo-attacker")
        link(
            victim,
            [f"{VICTIM[0]}/24", f"{VICTIM[1]}/64"],
            attacker,
            [f"{ATTACKER[0]}/24", f"{ATTACKER[1]}/64"],
        )
        click.echo(
            f"Sandbox: namespaces {victim.name} (victim {', '.join(VICTIM)}) and "
            f"{attacker.name} (attacker {', '.join(ATTACKER)}); files in {work}"
        )
        demo = Demo(work, victim, attacker)
        demo.run_story()
    finally:
        for ns in (victim, attacker):
            if ns is not None:
                ns.delete()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if demo.failures:
        click.echo(f"\n{demo.failures} check(s) FAILED", err=True)
        return errors.FAILURE
    click.echo(
        "\nAll checks passed; namespaces removed"
        + (f", files kept in {work}" if keep else ", temp files removed")
        + "."
    )
    return errors.OK
