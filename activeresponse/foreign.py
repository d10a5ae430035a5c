"""INPUT/FORWARD rules that are not ours (e.g. left by an old OSSEC firewall-drop.sh),
numbered as ``iptables -L --line-numbers`` numbers them, and their removal the two ways
the seed's manual teaches: by line number (method 1) and by rule spec (method 2).

Uses the system's iptables variant, whatever backend blocks our own addresses.
"""

from __future__ import annotations

from .backends.iptables import Rule, _tokens, detect_variant, parse_save
from .errors import FirewallError, UsageError
from .runner import run, which

HOOKS = ("INPUT", "FORWARD")
_PREFIX = {4: "iptables", 6: "ip6tables"}
# Options that make a spec a command or change its table: never accepted in --spec.
_COMMANDS = {
    "-A", "--append", "-I", "--insert", "-D", "--delete", "-R", "--replace", "-F", "--flush",
    "-X", "--delete-chain", "-N", "--new-chain", "-P", "--policy", "-E", "--rename-chain",
    "-Z", "--zero", "-t", "--table", "-L", "--list", "-S", "--list-rules", "-C", "--check",
}  # fmt: skip


class NumberedRule:
    __slots__ = ("chain", "family", "number", "ours", "text")

    def __init__(self, family: int, chain: str, number: int, text: str, ours: bool) -> None:
        self.family = family
        self.chain = chain
        self.number = number
        self.text = text
        self.ours = ours

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "chain": self.chain, "number": self.number,
                "rule": self.text, "activeresponse": self.ours}  # fmt: skip


def _tool(family: int, variant: str | None = None, kind: str = "") -> str:
    variant = variant or detect_variant()
    base = _PREFIX[family] + (f"-{kind}" if kind else "")
    name = f"{_PREFIX[family]}-{variant}" + (f"-{kind}" if kind else "")
    return name if which(name) else base


def hook_rules(
    families: tuple[int, ...] = (4, 6), variant: str | None = None
) -> list[NumberedRule]:
    """Every rule of INPUT and FORWARD with its line number (ours flagged)."""
    out: list[NumberedRule] = []
    for family in families:
        state = parse_save(run([_tool(family, variant, "save"), "-t", "filter"]).stdout, family)
        for chain in HOOKS:
            for number, rule in enumerate(state.rules.get(chain, []), 1):
                out.append(NumberedRule(family, chain, number, rule.text, rule.tagged))
    return out


def rule_at(chain: str, number: int, family: int, variant: str | None = None) -> NumberedRule:
    for rule in hook_rules((family,), variant):
        if rule.chain == chain and rule.number == number:
            return rule
    raise UsageError(f"{chain} has no rule number {number} ({_PREFIX[family]})")


def delete_rule(rule: NumberedRule, variant: str | None = None) -> None:
    """Delete this exact rule (by its spec, so a renumbering since it was shown cannot
    make us delete another one)."""
    if rule.ours:
        raise UsageError(
            f"{rule.chain} rule {rule.number} is activeresponse's own ({rule.text}); "
            "use `activeresponse delete N` for blocks or `activeresponse uninstall`"
        )
    run([_tool(rule.family, variant), "-w", "10", "-D", rule.chain, *_tokens(rule.text)])


class Spec:
    """A rule spec as an admin types it after ``iptables -D INPUT``."""

    def __init__(self, text: str) -> None:
        import shlex

        try:
            self.tokens = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"cannot parse the rule spec: {exc}") from None
        if not self.tokens:
            raise UsageError("empty rule spec")
        bad = [t for t in self.tokens if t in _COMMANDS]
        if bad:
            raise UsageError(f"give only the rule, without {bad[0]} (e.g. '-s 192.0.2.7 -j DROP')")
        rule = Rule(" ".join(self.tokens))
        if not rule.target:
            raise UsageError("the spec has no target: add -j DROP (or the rule's target), "
                             "as iptables -D needs the whole rule")  # fmt: skip
        if rule.tagged:
            raise UsageError("that spec is one of activeresponse's own rules; "
                             "use `activeresponse delete N` or `unblock`")  # fmt: skip
        self.target = rule.target
        self.source = rule.source
        addresses = [self.tokens[i + 1] for i, t in enumerate(self.tokens[:-1])
                     if t in ("-s", "--source", "-d", "--destination")]  # fmt: skip
        self.family = 6 if any(":" in a for a in addresses) else 4

    @property
    def is_plain_block(self) -> bool:
        """``-s ADDR -j DROP`` and nothing else: what OSSEC's script (and we) block with."""
        return self.target == "DROP" and self.source is not None and len(self.tokens) == 4

    def matches(self, variant: str | None = None) -> list[str]:
        """Hook chains holding a rule exactly like this spec (``iptables -C``)."""
        tool = _tool(self.family, variant)
        found = []
        for chain in HOOKS:
            done = run([tool, "-w", "10", "-C", chain, *self.tokens], check=False)
            if done.returncode == 0:
                found.append(chain)
            elif done.returncode == 2:  # iptables' "bad argument": the spec itself is wrong
                raise UsageError(f"{tool} does not accept that spec: {done.stderr.strip()}")
            elif done.returncode != 1:
                raise FirewallError(f"{tool} -C {chain}: {done.stderr.strip()}")
        return found

    def delete(self, chain: str, variant: str | None = None) -> None:
        run([_tool(self.family, variant), "-w", "10", "-D", chain, *self.tokens])
