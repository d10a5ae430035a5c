"""An OSSEC/Wazuh agent tree in a temp dir, served by our firewall-drop, inside a private
network namespace. The tests drive it exactly as execd would: by running the installed
executable with argv (OSSEC) or a JSON line on stdin (Wazuh)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from activeresponse.launcher import write_launcher
from activeresponse.netns import Namespace

# The backends the end-to-end tests run against: name -> (config backend, iptables variant).
BACKENDS = {
    "iptables-nft": ("iptables", "nft"),
    "iptables-legacy": ("iptables", "legacy"),
    "ipset": ("ipset", "nft"),
    "nftables": ("nftables", "nft"),
}

MANAGER_IP = "203.0.113.50"
MANAGER_NAME = "msm"
MANAGER_NAME_IP = "203.0.113.51"

OSSEC_CONF = f"""<!-- OSSEC agent configuration (test copy) -->
<ossec_config>
  <client>
    <server-ip>{MANAGER_IP}</server-ip>
  </client>
</ossec_config>
<ossec_config>
  <client>
    <server-hostname>{MANAGER_NAME}</server-hostname>
  </client>
</ossec_config>
"""


def wazuh_message(command: str, srcip: str | None = "3.3.3.3", **extra: object) -> str:
    data: dict = {"dstuser": "Test."}
    if srcip is not None:
        data["srcip"] = srcip
    message = {
        "version": 1,
        "origin": {"name": "", "module": "wazuh-execd"},
        "command": command,
        "parameters": {
            "extra_args": [],
            "alert": {"rule": {"level": 5, "description": "Test.", "id": 5715}, "data": data},
            "program": "active-response/bin/firewall-drop",
        },
    }
    message.update(extra)
    return json.dumps(message)


class AgentSandbox:
    def __init__(
        self,
        root: Path,
        ns: Namespace,
        backend: str = "iptables-nft",
        config_extra: str = "",
        timeout: int | None = 600,
    ) -> None:
        self.root = root
        self.ns = ns
        self.backend = backend
        self.kind, self.variant = BACKENDS[backend]
        self.agent = root / "ossec"
        for sub in ("active-response/bin", "etc/shared", "logs"):
            (self.agent / sub).mkdir(parents=True, exist_ok=True)
        self.ossec_exe = self.agent / "active-response/bin/firewall-drop.sh"
        self.wazuh_exe = self.agent / "active-response/bin/firewall-drop"
        write_launcher(str(self.ossec_exe))
        write_launcher(str(self.wazuh_exe))
        (self.agent / "etc/ossec.conf").write_text(OSSEC_CONF)
        if timeout is not None:
            (self.agent / "etc/shared/ar.conf").write_text(
                f"restart-ossec0 - restart-ossec.sh - 0\n"
                f"firewall-drop{timeout} - firewall-drop.sh - {timeout}\n"
                f"firewall-drop{timeout} - firewall-drop - {timeout}\n"
            )
        self.state = root / "state"
        self.config = root / "config.toml"
        self.config.write_text(
            f'state_dir = "{self.state}"\n'
            f'lock_file = "{root}/run/lock"\n'
            f'log_file = "{root}/log/activeresponse.log"\n'
            + ("" if "backend =" in config_extra else f'backend = "{self.kind}"\n')
            + f'iptables_variant = "{self.variant}"\n'
            f'agent_root = "{self.agent}"\n' + config_extra
        )
        self.config.chmod(0o600)
        # `ip netns exec` bind-mounts /etc/netns/<name>/hosts over /etc/hosts for the
        # processes it starts: the manager's name resolves without touching the host's file.
        self.etc_netns = Path("/etc/netns") / ns.name
        self.etc_netns.mkdir(parents=True, exist_ok=True)
        (self.etc_netns / "hosts").write_text(
            f"127.0.0.1 localhost\n{MANAGER_NAME_IP} {MANAGER_NAME} manager.example\n"
        )

    def cleanup(self) -> None:
        for f in self.etc_netns.glob("*"):
            f.unlink()
        self.etc_netns.rmdir()

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ACTIVERESPONSE_CONFIG": str(self.config)}

    def argv(self, exe: Path, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns.name, str(exe), *args]

    def cli_argv(self, *args: str) -> list[str]:
        exe = Path(sys.executable).with_name("activeresponse")
        return ["ip", "netns", "exec", self.ns.name, str(exe), "--config", str(self.config),
                *args]  # fmt: skip

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """Run the admin CLI inside the namespace, with this sandbox's config."""
        return subprocess.run(self.cli_argv(*args), env=self.env, capture_output=True, text=True,
                              input=input, timeout=120)  # fmt: skip

    def ossec(self, *args: str) -> subprocess.CompletedProcess:
        return self.run_exe(self.ossec_exe, *args)

    def run_exe(self, exe: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(exe, *args),
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    def ossec_popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(self.ossec_exe, *args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def wazuh(self, message: str, answer: str | None = None) -> tuple[int, str, str]:
        """Run the Wazuh form; if it asks check_keys, reply with ``answer``'s command."""
        proc = subprocess.Popen(
            self.argv(self.wazuh_exe),
            env=self.env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout
        proc.stdin.write(message + "\n")
        proc.stdin.flush()
        asked = ""
        if answer is not None:
            asked = proc.stdout.readline()
            if asked:
                reply = json.loads(message)
                reply["command"] = answer
                proc.stdin.write(json.dumps(reply) + "\n")
                proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
        return proc.returncode, asked + out, err

    # -- what the kernel and the ledger hold ----------------------------------------------

    def save(self, family: int = 4) -> str:
        tool = f"{'ip6tables' if family == 6 else 'iptables'}-{self.variant}-save"
        out = self.ns.run([tool, "-t", "filter"]).stdout
        # Without the date comments and packet counters: the rules are what we compare.
        lines = (re.sub(r"\[\d+:\d+\]$", "", ln) for ln in out.splitlines() if ln[:1] != "#")
        return "\n".join(lines)

    def rules(self, chain: str, family: int = 4) -> list[str]:
        prefix = f"-A {chain} "
        return [
            line[len(prefix) :]
            for line in self.save(family).splitlines()
            if line.startswith(prefix)
        ]

    def drops(self, family: int = 4) -> list[str]:
        """Sources of our DROP rules (duplicates kept)."""
        out = []
        for rule in self.rules("ACTIVERESPONSE", family):
            words = rule.split()
            if "DROP" in words and "-s" in words:
                out.append(_text(words[words.index("-s") + 1]))
        return out

    def blocked(self, family: int = 4) -> list[str]:
        """What the kernel blocks for us, read with the firewall's own tools (not through
        our backend code): addresses (``192.0.2.7``) and networks (``198.51.100.0/24``),
        sorted; for iptables one entry per DROP rule, so a duplicate rule shows twice."""
        if self.kind == "iptables":
            return sorted(self.drops(family))
        if self.kind == "ipset":
            names = {f"activeresponse-v{family}", f"activeresponse-net{family}"}
            out = self.ns.run(["ipset", "save"]).stdout
            return sorted(
                _text(words[2])
                for words in (line.split() for line in out.splitlines())
                if len(words) > 2 and words[0] == "add" and words[1] in names
            )
        return sorted(_text(e) for e in self.nft_elements(family))

    def nft_elements(self, family: int) -> list[str]:
        """Elements of our nft sets for one family (v4 / net4_*), as nft lists them."""
        done = self.ns.run(["nft", "-j", "list", "table", "inet", "activeresponse"], check=False)
        if done.returncode != 0:
            return []
        found = []
        for obj in json.loads(done.stdout)["nftables"]:
            name = obj.get("set", {}).get("name", "")
            if name == f"v{family}" or name.startswith(f"net{family}_"):
                for elem in obj["set"].get("elem", []):
                    value = (
                        elem["elem"]["val"] if isinstance(elem, dict) and "elem" in elem else elem
                    )
                    if isinstance(value, dict):
                        value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
                    found.append(value)
        return found

    def wipe(self) -> None:
        """What another tool (or an admin) might do: empty our IPv4 blocks in the kernel."""
        if self.kind == "iptables":
            self.ns.run([f"iptables-{self.variant}", "-F", "ACTIVERESPONSE"])
        elif self.kind == "ipset":
            self.ns.run(["ipset", "flush", "activeresponse-v4"])
        else:
            self.ns.run(["nft", "flush", "set", "inet", "activeresponse", "v4"])

    def ledger_rows(self, active_only: bool = True) -> list[tuple]:
        path = self.state / "ledger.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            sql = "SELECT address, origin, expires, rule_id, alert_id, user FROM blocks"
            if active_only:
                sql += " WHERE removed IS NULL"
            return db.execute(sql + " ORDER BY id").fetchall()

    def ar_log(self) -> list[str]:
        path = self.agent / "logs/active-responses.log"
        return path.read_text().splitlines() if path.exists() else []

    def sets(self) -> str:
        """ipset and nftables state, without what changes by itself (remaining timeouts,
        hash sizes)."""
        ipset = self.ns.run(["ipset", "save"]).stdout
        nft = self.ns.run(["nft", "list", "ruleset"]).stdout
        ipset = re.sub(r" (timeout \d+|hashsize \d+|initval \S+)", "", ipset)
        return ipset + re.sub(r" expires \S+", "", nft)

    def snapshot(self) -> tuple:
        """Everything a refused request must leave unchanged."""
        return (self.save(4), self.save(6), self.sets(), self.ledger_rows(active_only=False))


def _text(element: str) -> str:
    """``192.0.2.7`` for one address, ``198.51.100.0/24`` for a network."""
    net = ipaddress.ip_network(element)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
