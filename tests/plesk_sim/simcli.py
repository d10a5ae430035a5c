"""The simulated Plesk CLI: ``plesk version``, ``plesk ext firewall ...`` and the old
``<product root>/bin/modules/firewall/settings ...`` (same verbs), for tests only.

It keeps the firewall configuration in ``<fw>/sim-state.json`` of a fake tree (``<fw>``
is ``<root><product root>/var/modules/firewall``; the tree comes from
``PLESK_SIM_ROOT``), and ``--apply`` rebuilds the iptables/ip6tables filter table of the
network namespace it runs in the way Plesk does: every INPUT rule whose
``iptables-save`` line lacks ``fail2ban-``/``f2b-`` goes, FORWARD and OUTPUT are flushed,
then Plesk's own rules are appended (a few standard rules, the custom rules in order
with one iptables rule per address and port, the service rules, the policies).
User-defined chains and ipsets are left alone.

Knobs (environment variable, else ``<fw>/sim-config.json``): ``apply_seconds``
(``PLESK_SIM_APPLY_SECONDS``, how long an apply takes), ``cli_seconds``
(``PLESK_SIM_CLI_SECONDS``, start-up latency of every call, as Plesk's PHP CLI has),
``fail_apply`` (``PLESK_SIM_FAIL_APPLY=1``: applies fail). Every call is recorded in
``<fw>/sim-calls.jsonl`` and every apply (start, end, outcome) in
``<fw>/sim-applies.jsonl``; an apply that finds another one running is refused and
recorded as such. Not simulated: the 60-second rollback of an unconfirmed apply.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import subprocess
import sys
import time

AUTO_CONFIRM = "-auto-confirm-this-may-lock-me-out-of-the-server"
VERBS = (
    "--list-json",
    "--set-rule",
    "--remove-rule",
    "--apply",
    "--confirm",
    "--enable",
    "--disable",
)
OPTIONS = ("-name", "-direction", "-action", "-remote-addresses", "-ports", "-id")

# Plesk's predefined rules (the ones every fresh install lists), ids 1-7.
SYSTEM_RULES = [
    ("ssh", "SSH (secure shell) server", "input", "allow", ["22/tcp"]),
    ("www", "Web server", "input", "allow", ["80/tcp", "443/tcp"]),
    ("plesk", "Plesk administrative interface", "input", "allow", ["8443/tcp", "8880/tcp"]),
    ("ping", "Ping service", "input", "allow", []),
    ("policy-incoming", "System policy for incoming traffic", "input", "deny", []),
    ("policy-forward", "System policy for forwarding traffic", "forward", "allow", []),
    ("policy-outgoing", "System policy for outgoing traffic", "output", "allow", []),
]


class SimError(Exception):
    pass


def initial_state(forward_policy: str = "allow") -> dict:
    rules = []
    for i, (cls, name, direction, action, ports) in enumerate(SYSTEM_RULES, 1):
        if cls == "policy-forward":
            action = forward_policy
        rules.append(
            {
                "id": i,
                "class": cls,
                "name": name,
                "direction": direction,
                "action": action,
                "ports": ports,
                "from": [],
            }
        )
    return {"enabled": True, "next_id": len(rules) + 1, "rules": rules}


def product_root(root: str) -> str:
    conf = os.path.join(root, "etc/psa/psa.conf")
    with open(conf) as fh:
        for line in fh:
            words = line.split()
            if len(words) == 2 and words[0] == "PRODUCT_ROOT_D":
                return words[1]
    raise SimError(f"no PRODUCT_ROOT_D in {conf}")


class Sim:
    def __init__(self, root: str) -> None:
        self.root = root
        self.product = product_root(root)
        self.fw = os.path.join(root, self.product.lstrip("/"), "var/modules/firewall")
        self.state_path = os.path.join(self.fw, "sim-state.json")
        config_path = os.path.join(self.fw, "sim-config.json")
        try:
            with open(config_path) as fh:
                self.config = json.load(fh)
        except FileNotFoundError:
            self.config = {}

    def knob(self, name: str, default: float) -> float:
        env = os.environ.get(f"PLESK_SIM_{name.upper()}")
        if env is not None:
            return float(env)
        return float(self.config.get(name, default))

    # -- state -----------------------------------------------------------------------------

    def locked(self):
        fd = os.open(os.path.join(self.fw, "sim-state.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def load(self) -> dict:
        try:
            with open(self.state_path) as fh:
                return json.load(fh)
        except FileNotFoundError:
            raise SimError("The Firewall extension is not installed") from None

    def save(self, state: dict) -> None:
        tmp = f"{self.state_path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=1)
        os.replace(tmp, self.state_path)

    def record(self, name: str, entry: dict) -> None:
        line = json.dumps(entry) + "\n"
        fd = os.open(os.path.join(self.fw, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    # -- verbs -----------------------------------------------------------------------------

    def run(self, args: list[str]) -> str:
        if not args or args[0] not in VERBS:
            given = args[0] if args else "(none)"
            raise SimError(f"Unknown command {given}; use {', '.join(VERBS)}")
        verb, opts, flags = args[0], {}, set()
        rest = args[1:]
        while rest:
            word = rest.pop(0)
            if word in OPTIONS:
                if not rest:
                    raise SimError(f"Option {word} needs a value")
                opts[word] = rest.pop(0)
            elif word == AUTO_CONFIRM:
                flags.add(word)
            else:
                raise SimError(f"Unknown option {word}")
        self.record("sim-calls.jsonl", {"verb": verb, "time": time.time(), "pid": os.getpid()})
        return getattr(self, "do_" + verb[2:].replace("-", "_"))(opts, flags)

    def do_list_json(self, opts: dict, flags: set) -> str:
        return json.dumps(self.load()["rules"])

    def do_set_rule(self, opts: dict, flags: set) -> str:
        fd = self.locked()
        try:
            state = self.load()
            if "-id" in opts:
                rule = self.find(state, opts["-id"])
                created = False
            else:
                for key in ("-name", "-direction", "-action"):
                    if key not in opts:
                        raise SimError(f"Option {key} is required to create a rule")
                rule = {"id": state["next_id"], "class": "custom", "ports": [], "from": []}
                state["next_id"] += 1
                created = True
            if "-name" in opts:
                rule["name"] = opts["-name"]
            if "-direction" in opts:
                if opts["-direction"] not in ("input", "output", "forward"):
                    raise SimError(f"Invalid direction: {opts['-direction']}")
                rule["direction"] = opts["-direction"]
            if "-action" in opts:
                if opts["-action"] not in ("allow", "deny"):
                    raise SimError(f"Invalid action: {opts['-action']}")
                rule["action"] = opts["-action"]
            if "-remote-addresses" in opts:
                rule["from"] = [parse_address(a) for a in split_list(opts["-remote-addresses"])]
            if "-ports" in opts:
                rule["ports"] = [parse_port(p) for p in split_list(opts["-ports"])]
            if created:
                state["rules"].append(rule)
            self.save(state)
        finally:
            os.close(fd)
        done = "created" if created else "updated"
        return f"The rule '{rule['name']}' was {done} (ID {rule['id']})."

    def do_remove_rule(self, opts: dict, flags: set) -> str:
        if "-id" not in opts:
            raise SimError("Option -id is required")
        fd = self.locked()
        try:
            state = self.load()
            rule = self.find(state, opts["-id"])
            if rule["class"] != "custom":
                raise SimError(f"Rule {rule['id']} is a system rule and cannot be removed")
            state["rules"].remove(rule)
            self.save(state)
        finally:
            os.close(fd)
        return f"The rule '{rule['name']}' was removed."

    def find(self, state: dict, rule_id: str) -> dict:
        for rule in state["rules"]:
            if str(rule["id"]) == str(rule_id):
                return rule
        raise SimError(f"Rule with ID {rule_id} does not exist")

    def do_apply(self, opts: dict, flags: set) -> str:
        if not self.load()["enabled"]:
            raise SimError("The firewall is disabled; enable it first (--enable)")
        return self.apply(AUTO_CONFIRM in flags)

    def apply(self, confirm: bool) -> str:
        fd = os.open(os.path.join(self.fw, "sim-apply.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.record(
                    "sim-applies.jsonl", {"pid": os.getpid(), "time": time.time(), "refused": True}
                )
                raise SimError(
                    "Another firewall configuration apply is already in progress; "
                    "wait for it to finish"
                ) from None
            start = time.time()
            state = self.load()  # Plesk snapshots its configuration when the apply starts
            time.sleep(self.knob("apply_seconds", 1.0))
            error = ""
            if self.knob("fail_apply", 0):
                error = "Unable to apply the firewall configuration (simulated failure)"
            else:
                try:
                    script = rebuild(state)
                except SimError as exc:
                    error = str(exc)
                else:
                    name = "firewall-active.sh" if confirm else "firewall-new.sh"
                    with open(os.path.join(self.fw, name), "w") as fh:
                        fh.write(script)
            ok = not error
            self.record(
                "sim-applies.jsonl",
                {
                    "pid": os.getpid(),
                    "start": start,
                    "end": time.time(),
                    "ok": ok,
                    "rules": len(state["rules"]),
                },
            )
            if error:
                raise SimError(error)
        finally:
            os.close(fd)
        if confirm:
            return "The changes were applied and confirmed."
        return "The changes were applied. Run --confirm within 60 seconds to keep them."

    def do_confirm(self, opts: dict, flags: set) -> str:
        new = os.path.join(self.fw, "firewall-new.sh")
        if not os.path.exists(new):
            raise SimError("There are no applied changes to confirm")
        os.replace(new, os.path.join(self.fw, "firewall-active.sh"))
        return "The changes were confirmed."

    def do_enable(self, opts: dict, flags: set) -> str:
        fd = self.locked()
        try:
            state = self.load()
            state["enabled"] = True
            self.save(state)
        finally:
            os.close(fd)
        return self.apply(True)

    def do_disable(self, opts: dict, flags: set) -> str:
        fd = self.locked()
        try:
            state = self.load()
            state["enabled"] = False
            self.save(state)
        finally:
            os.close(fd)
        rebuild(state, disabled=True)
        for name in ("firewall-active.sh", "firewall-new.sh"):
            path = os.path.join(self.fw, name)
            if os.path.exists(path):
                os.unlink(path)
        return "The firewall was disabled."


def split_list(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def parse_address(text: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SimError(f"Invalid IP address or network: {text}") from None
    return str(net) if "/" in text else text


def parse_port(text: str) -> str:
    port, _, proto = text.partition("/")
    if not port.isdigit() or proto not in ("tcp", "udp"):
        raise SimError(f"Invalid port: {text} (use PORT/tcp or PORT/udp)")
    return text


# -- what an apply does to the kernel ----------------------------------------------------


def _family(address: str) -> int:
    return ipaddress.ip_network(address, strict=False).version


def _rule_lines(chain: str, rule: dict, family: int) -> list[str]:
    """One iptables rule per (address, port) of a custom rule, as Plesk emits them."""
    target = "ACCEPT" if rule["action"] == "allow" else "DROP"
    sources = [a for a in rule["from"] if _family(a) == family]
    if rule["from"] and not sources:
        return []  # the rule names only addresses of the other family
    src_opts = [f"-s {a}" for a in sources] or [""]
    port_opts = []
    for port in rule["ports"]:
        number, _, proto = port.partition("/")
        port_opts.append(f"-p {proto} -m {proto} --dport {number}")
    out = []
    for src in src_opts:
        for port in port_opts or [""]:
            out.append(" ".join(w for w in (f"-A {chain}", src, port, f"-j {target}") if w))
    return out


def plesk_rules(state: dict, family: int) -> list[str]:
    rules = state["rules"]
    icmp = "icmp -m icmp --icmp-type 8" if family == 4 else "ipv6-icmp -m icmp6 --icmpv6-type 128"
    lines = [
        "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -m state --state INVALID -j DROP",
        "-A INPUT -i lo -j ACCEPT",
    ]
    if family == 6:  # neighbour discovery, or nothing reaches the host over IPv6
        nd = (133, 134, 135, 136)
        lines += [f"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT" for t in nd]
    custom = [r for r in rules if r["class"] == "custom"]
    for rule in custom:
        if rule["direction"] == "input":
            lines += _rule_lines("INPUT", rule, family)
    policy = {r["class"]: r["action"] for r in rules}
    for rule in rules:
        if rule["class"] in ("ssh", "www", "plesk") and rule["action"] == "allow":
            lines += _rule_lines("INPUT", rule, family)
        elif rule["class"] == "ping" and rule["action"] == "allow":
            lines.append(f"-A INPUT -p {icmp} -j ACCEPT")
    if policy.get("policy-incoming") == "deny":
        lines.append("-A INPUT -j DROP")
    lines += [
        "-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT",
        "-A FORWARD -i lo -o lo -j ACCEPT",
    ]
    for rule in custom:
        if rule["direction"] == "forward":
            lines += _rule_lines("FORWARD", rule, family)
    if policy.get("policy-forward") == "deny":
        lines.append("-A FORWARD -j DROP")
    for rule in custom:
        if rule["direction"] == "output":
            lines += _rule_lines("OUTPUT", rule, family)
    lines.append(f"-A OUTPUT -j {'DROP' if policy.get('policy-outgoing') == 'deny' else 'ACCEPT'}")
    return lines


def test_namespace() -> str | None:
    """The name of the test namespace (``ip netns``, ``ar-*``) we run in, or None."""
    me = os.stat("/proc/self/ns/net")
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return None
    for name in names:
        st = os.stat(os.path.join("/run/netns", name))
        if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino) and name.startswith("ar-"):
            return name
    return None


def rebuild(state: dict, disabled: bool = False) -> str:
    """Rebuild both families' filter tables; the restore payloads, as the 'script'."""
    if test_namespace() is None:
        raise SimError(
            "refusing to touch this firewall: the simulator only runs inside a test "
            "namespace (ip netns exec ar-...)"
        )
    script = []
    for family, tool in ((4, "iptables"), (6, "ip6tables")):
        saved = subprocess.run(
            [f"{tool}-save", "-t", "filter"], capture_output=True, text=True, check=True
        ).stdout
        # Plesk: iptables-save | grep -- "-A INPUT" | grep -v "fail2ban-\|f2b-" -> -D each.
        # Same result: flush INPUT, put back the survivors in their order, append ours.
        survivors = [
            line
            for line in saved.splitlines()
            if line.startswith("-A INPUT ") and ("fail2ban-" in line or "f2b-" in line)
        ]
        lines = ["*filter", "-F INPUT", *survivors, "-F FORWARD", "-F OUTPUT"]
        if not disabled:
            lines += plesk_rules(state, family)
        payload = "\n".join(lines) + "\nCOMMIT\n"
        done = subprocess.run(
            [f"{tool}-restore", "--noflush"], input=payload, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SimError(f"{tool}-restore failed: {done.stderr.strip()}")
        script.append(f"# {tool}\n{payload}")
    return "\n".join(script)


def version_text(root: str) -> str:
    """``plesk version``: from the version file, or PLESK_SIM_VERSION (the tree's
    wrapper sets it, so the command works when the file is gone)."""
    text = os.environ.get("PLESK_SIM_VERSION", "")
    if not text:
        with open(os.path.join(root, product_root(root).lstrip("/"), "version")) as fh:
            text = fh.read()
    words = text.split()
    return (
        f"Product version: Plesk {words[0]}\n"
        f"    OS version: {' '.join(words[1:-1])} x86_64\n"
        f"    Build date: 2024/04/18 12:00\n"
    )


def main(argv: list[str]) -> int:
    root = os.environ.get("PLESK_SIM_ROOT")
    if not root:
        print("plesk (simulator): PLESK_SIM_ROOT is not set", file=sys.stderr)
        return 1
    program = os.environ.get("PLESK_SIM_PROGRAM", "plesk")
    args = argv[1:]
    try:
        sim = Sim(root)
        time.sleep(sim.knob("cli_seconds", 0.0))
        if program == "plesk":
            if args == ["version"]:
                print(version_text(root), end="")
                return 0
            if args[:2] != ["ext", "firewall"]:
                given = " ".join(args)
                raise SimError(f"Unknown command: {given} (simulated: version, ext firewall)")
            args = args[2:]
        print(sim.run(args))
        return 0
    except SimError as exc:
        print(f"An error occurred: {exc}", file=sys.stderr)
        return 1
