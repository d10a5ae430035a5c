"""What we read from the OSSEC/Wazuh agent installation we serve.

- the agent root: the executable lives in ``<root>/active-response/bin/``;
- the manager's addresses (never to be blocked) from ``<root>/etc/ossec.conf``: OSSEC's
  ``<server-ip>``/``<server-hostname>`` and Wazuh's ``<server><address>``, names resolved
  through ``/etc/hosts`` only (no DNS on the agent's path: it can hang);
- the block timeout configured for our executable in ``<root>/etc/shared/ar.conf``.

ossec.conf is not one XML document (several roots, comments), so it is scanned as text.
"""

from __future__ import annotations

import os

from .addresses import parse_ip
from .errors import InvalidAddress

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPAddress

DEFAULT_ROOTS = ("/var/ossec",)

_SERVER_TAGS = ("server-ip", "server-hostname", "address")


class AgentTree:
    """Paths inside one agent installation."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._conf_text: str | None = None

    @property
    def ossec_conf_text(self) -> str:
        """ossec.conf's text, read once per process ("" if unreadable)."""
        if self._conf_text is None:
            self._conf_text = _read(self.ossec_conf)
        return self._conf_text

    @property
    def ossec_conf(self) -> str:
        return os.path.join(self.root, "etc", "ossec.conf")

    @property
    def ar_conf(self) -> str:
        return os.path.join(self.root, "etc", "shared", "ar.conf")

    @property
    def ar_log(self) -> str:
        return os.path.join(self.root, "logs", "active-responses.log")

    def __repr__(self) -> str:
        return f"AgentTree({self.root!r})"


def tree_of_executable(program: str) -> AgentTree | None:
    """The agent tree an executable at ``<root>/active-response/bin/NAME`` belongs to."""
    bindir = os.path.dirname(os.path.abspath(program))
    if os.path.basename(bindir) == "bin":
        ar_dir = os.path.dirname(bindir)
        if os.path.basename(ar_dir) == "active-response":
            return AgentTree(os.path.dirname(ar_dir))
    return None


def find_tree(program: str | None, configured_root: str) -> AgentTree | None:
    """The agent tree we serve: where our executable is installed, else the configured
    root, else a standard location that exists."""
    if program:
        tree = tree_of_executable(program)
        if tree is not None:
            return tree
    if configured_root:
        return AgentTree(configured_root)
    for root in DEFAULT_ROOTS:
        if os.path.isfile(os.path.join(root, "etc", "ossec.conf")):
            return AgentTree(root)
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _sections(text: str, tag: str) -> list[tuple[int, str]]:
    """(offset, content) of every ``<tag>...</tag>`` in ``text``. Plain string scanning:
    ``re`` is not worth its import time on the agent's path for this."""
    found = []
    start = text.find(f"<{tag}>")
    while start != -1:
        body = start + len(tag) + 2
        end = text.find(f"</{tag}>", body)
        if end == -1:
            break
        found.append((start, text[body:end]))
        start = text.find(f"<{tag}>", end)
    return found


def _strip_comments(text: str) -> str:
    parts = []
    pos = 0
    while True:
        start = text.find("<!--", pos)
        if start == -1:
            return "".join(parts) + text[pos:]
        parts.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end == -1:
            return "".join(parts)
        pos = end + 3


def manager_names(ossec_conf_text: str) -> list[str]:
    """The manager addresses/names in the ``<client>`` sections, in file order."""
    names: list[str] = []
    for _, client in _sections(_strip_comments(ossec_conf_text), "client"):
        values = sorted(v for tag in _SERVER_TAGS for v in _sections(client, tag))
        names.extend(value.strip() for _, value in values if value.strip())
    return names


def resolve_hosts(name: str, hosts_text: str) -> set[IPAddress]:
    """Addresses ``/etc/hosts`` gives ``name`` (case-insensitive, aliases included)."""
    wanted = name.lower()
    found: set[IPAddress] = set()
    for line in hosts_text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and wanted in (f.lower() for f in fields[1:]):
            try:
                found.add(parse_ip(fields[0]))
            except InvalidAddress:
                continue
    return found


def manager_addresses(tree: AgentTree | None, hosts_path: str = "/etc/hosts") -> set[IPAddress]:
    """Every address of the agent's manager(s) we can learn without DNS."""
    if tree is None:
        return set()
    names = manager_names(tree.ossec_conf_text)
    if not names:
        return set()
    hosts_text: str | None = None
    found: set[IPAddress] = set()
    for name in names:
        try:
            found.add(parse_ip(name))
            continue
        except InvalidAddress:
            pass
        if hosts_text is None:
            hosts_text = _read(hosts_path)
        found |= resolve_hosts(name, hosts_text)
    return found


def ar_timeout(ar_conf_text: str, executable: str) -> int | None:
    """The timeout ar.conf gives our executable (lines ``name - exe - timeout``).

    When several commands use the same executable, the longest timeout wins: our expiry
    is the safety net for a ``delete`` that never comes, it must not pre-empt one that
    will. ``0`` (no timeout) is ignored: the caller falls back to its default.
    """
    best: int | None = None
    for line in ar_conf_text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2] == executable and fields[4].isdigit():
            value = int(fields[4])
            if value > 0 and (best is None or value > best):
                best = value
    return best


def configured_timeout(tree: AgentTree | None, executable: str) -> int | None:
    if tree is None:
        return None
    return ar_timeout(_read(tree.ar_conf), executable)


def repeated_offenders(ossec_conf_text: str) -> list[int]:
    """The agent's ``<repeated_offenders>`` timeouts, in seconds (given in minutes), for
    the 2nd, 3rd... block of the same address. Empty when not configured."""
    for _, section in _sections(_strip_comments(ossec_conf_text), "active-response"):
        for _, value in _sections(section, "repeated_offenders"):
            minutes = [v.strip() for v in value.split(",")]
            if minutes and all(m.isdigit() for m in minutes):
                return [int(m) * 60 for m in minutes]
    return []


def agent_repeat_timeouts(tree: AgentTree | None) -> list[int]:
    return repeated_offenders(tree.ossec_conf_text) if tree is not None else []
