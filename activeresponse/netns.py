"""Private network namespaces: the sandbox of the demo, the tests and the benchmarks.

Everything here happens inside namespaces this process created (links are created
directly inside them), so the host's own firewall and interfaces are never touched.
"""

from __future__ import annotations

import itertools
import os

from .runner import Result, run

_counter = itertools.count(1)


class Namespace:
    """One named network namespace (``ip netns``); delete it when done."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def create(cls, prefix: str = "ar") -> Namespace:
        name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        run(["ip", "netns", "add", name])
        ns = cls(name)
        ns.ip("link", "set", "lo", "up")
        return ns

    def exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped to run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], **kwargs: object) -> Result:
        return run(self.exec_argv(argv), **kwargs)  # type: ignore[arg-type]

    def ip(self, *args: str) -> Result:
        return run(["ip", "-n", self.name, *args])

    def delete(self) -> None:
        run(["ip", "netns", "delete", self.name], check=False)

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"


def link(a: Namespace, a_addrs: list[str], b: Namespace, b_addrs: list[str]) -> tuple[str, str]:
    """Join two namespaces with a veth pair and give each end its addresses
    (``192.0.2.1/24``, ``2001:db8::1/64``...). Returns the two interface names."""
    n = next(_counter)
    a_if, b_if = f"va{n}", f"vb{n}"
    run(
        [
            "ip",
            "-n",
            a.name,
            "link",
            "add",
            a_if,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name,
        ]
    )
    for ns, ifname, addrs in ((a, a_if, a_addrs), (b, b_if, b_addrs)):
        for addr in addrs:
            extra = ["nodad"] if ":" in addr else []
            ns.ip("addr", "add", addr, "dev", ifname, *extra)
        ns.ip("link", "set", ifname, "up")
    return a_if, b_if


def pings(src: Namespace, address: str, count: int = 1, wait: float = 1.0) -> bool:
    """Whether ``address`` answers ICMP echo from inside ``src``."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", f"{wait:g}", address]
    if ":" in address:
        argv.insert(1, "-6")
    return src.run(argv, check=False).returncode == 0
