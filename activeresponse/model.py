"""The one model of a block, shared by every entry point, the ledger and the backends."""

from __future__ import annotations

import ipaddress

from .addresses import network_text

TYPE_CHECKING = False  # typing costs start-up; these are for annotations only
if TYPE_CHECKING:
    from .addresses import IPNetwork

ORIGINS = ("ossec", "wazuh", "admin", "import")


class Block:
    """One blocked address or network.

    ``expires`` is a Unix time, or ``None`` for a permanent (admin) block. ``id`` is the
    ledger row id once stored. ``hits``: how many requests this block absorbed (repeated
    adds extend it); ``offence``: the how-many-th block of this address within the repeat
    window, which escalated its duration.
    """

    __slots__ = (
        "_family",
        "_network",
        "address",
        "alert_id",
        "created",
        "expires",
        "hits",
        "id",
        "offence",
        "origin",
        "reason",
        "rule_id",
        "user",
    )

    def __init__(
        self,
        network: IPNetwork | None,
        *,
        created: float,
        expires: float | None,
        origin: str,
        alert_id: str = "",
        rule_id: str = "",
        user: str = "",
        reason: str = "",
        id: int | None = None,
        hits: int = 1,
        offence: int = 1,
        address: str = "",
        family: int = 0,
    ) -> None:
        """``network``; or, for a row read back from the ledger, None with its canonical
        ``address`` and ``family`` (the network object is then made on first use: listing
        100,000 blocks need not parse 100,000 addresses)."""
        self._network = network
        #: Canonical text: ``192.0.2.7`` for one address, ``198.51.100.0/24`` for a net.
        self.address = network_text(network) if network is not None else address
        self._family = network.version if network is not None else family
        self.created = created
        self.expires = expires
        self.origin = origin
        self.alert_id = alert_id
        self.rule_id = rule_id
        self.user = user
        self.reason = reason
        self.id = id
        self.hits = hits
        self.offence = offence

    @property
    def network(self) -> IPNetwork:
        if self._network is None:
            self._network = ipaddress.ip_network(self.address)
        return self._network

    @property
    def family(self) -> int:
        return self._family

    @property
    def is_single(self) -> bool:
        return self.network.prefixlen == self.network.max_prefixlen

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def __repr__(self) -> str:
        return f"Block({self.address}, expires={self.expires}, origin={self.origin}, id={self.id})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Block):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__ if k != "_network")

    __hash__ = None  # type: ignore[assignment]
