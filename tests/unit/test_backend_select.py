"""select(): the config's backend, and a clear error when its tool is missing."""

from __future__ import annotations

import pytest

from activeresponse import backends
from activeresponse.backends.ipset import IpsetBackend
from activeresponse.backends.iptables import IptablesBackend
from activeresponse.backends.nftables import NftablesBackend
from activeresponse.config import Config
from activeresponse.errors import ConfigError, FirewallError


def test_each_name_gives_its_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "which", lambda program: f"/usr/sbin/{program}")
    cfg = {"iptables_variant": "legacy", "set_maxelem": 5000}
    chosen = backends.select(Config({"backend": "ipset", **cfg}))
    assert isinstance(chosen, IpsetBackend)
    assert (chosen.variant, chosen.maxelem) == ("legacy", 5000)
    assert chosen.describe() == "ipset (iptables legacy)"
    chosen = backends.select(Config({"backend": "nftables", **cfg}))
    assert isinstance(chosen, NftablesBackend) and chosen.maxelem == 5000
    assert isinstance(backends.select(Config({"backend": "iptables", **cfg})), IptablesBackend)
    with pytest.raises(ConfigError, match="no Plesk"):  # asked for, but this host has none
        backends.select(Config({"backend": "plesk", "plesk_root": "/nonexistent"}))


@pytest.mark.parametrize(("backend", "package"), [("ipset", "ipset"), ("nftables", "nftables")])
def test_missing_tool_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, backend: str, package: str
) -> None:
    monkeypatch.setattr(backends, "which", lambda program: None)
    with pytest.raises(FirewallError, match=f"install the {package} package"):
        backends.select(Config({"backend": backend, "iptables_variant": "nft"}))


def test_set_maxelem_is_validated() -> None:
    assert Config().set_maxelem == 1048576
    with pytest.raises(ConfigError, match="set_maxelem"):
        Config({"set_maxelem": 0})
