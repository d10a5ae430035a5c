from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest

from activeresponse.errors import StateError
from activeresponse.ledger import Ledger
from activeresponse.model import Block


def block(
    address: str, expires: float | None = 1600.0, origin: str = "ossec", created: float = 1000.0
) -> Block:
    return Block(
        ipaddress.ip_network(address),
        created=created,
        expires=expires,
        origin=origin,
        alert_id="1.1",
        rule_id="100",
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(str(tmp_path / "state" / "ledger.sqlite3"))


def test_files_are_private(ledger: Ledger, tmp_path: Path) -> None:
    with ledger.transaction():
        ledger.upsert(block("192.0.2.1"))
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    for f in (tmp_path / "state").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_upsert_extends_without_duplicating(ledger: Ledger) -> None:
    with ledger.transaction():
        first, new = ledger.upsert(block("192.0.2.1", 1600.0))
    assert new and first.id == 1
    with ledger.transaction():
        again, new = ledger.upsert(block("192.0.2.1", 2000.0, created=1100.0))
    assert not new and again.id == 1 and again.expires == 2000.0 and again.hits == 2
    with ledger.transaction():
        shorter, _ = ledger.upsert(block("192.0.2.1", 1700.0))
    assert shorter.expires == 2000.0  # a later add never shortens a block
    assert [b.address for b in ledger.active()] == ["192.0.2.1"]


def test_permanent_stays_permanent(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.upsert(block("192.0.2.2", None, origin="admin"))
        stored, _ = ledger.upsert(block("192.0.2.2", 5000.0))
    assert stored.expires is None and stored.origin == "admin"


def test_due_close_and_history(ledger: Ledger) -> None:
    with ledger.transaction():
        a, _ = ledger.upsert(block("192.0.2.1", 1500.0))
        ledger.upsert(block("192.0.2.2", 3000.0))
        ledger.upsert(block("2001:db8::1", None))
    assert [b.address for b in ledger.due(2000.0)] == ["192.0.2.1"]
    assert ledger.next_expiry() == 1500.0
    with ledger.transaction():
        assert ledger.close_blocks([a.id], 2000.0, "expired") == 1  # type: ignore[list-item]
        assert ledger.close_blocks([a.id], 2000.0, "expired") == 0  # type: ignore[list-item]
    assert ledger.active_addresses() == {"192.0.2.2", "2001:db8::1"}
    assert ledger.active_addresses(6) == {"2001:db8::1"}
    with ledger.transaction():
        again, new = ledger.upsert(block("192.0.2.1", 9000.0, created=2500.0))
    assert new and again.id == 4
    assert ledger.recent_count("192.0.2.1", 0) == 2


def test_rollback_on_error(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.upsert(block("192.0.2.1"))
        raise RuntimeError("kernel said no")
    assert ledger.active() == []


def test_refuses_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.sqlite3").write_bytes(b"")
    (tmp_path / "ledger.sqlite3").symlink_to(tmp_path / "real.sqlite3")
    with pytest.raises(StateError, match="symlink"):
        Ledger(str(tmp_path / "ledger.sqlite3"))


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    path.chmod(0o600)
    with pytest.raises(StateError, match="ledger"):
        Ledger(str(path))


def test_upsert_many_ids_and_repeats(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.upsert(block("192.0.2.1", 1600.0))
    batch = [block("192.0.2.1", 2000.0), block("192.0.2.2", 1700.0), block("192.0.2.3"),
             block("192.0.2.2", 1800.0)]  # fmt: skip
    with ledger.transaction():
        results = ledger.upsert_many(batch)
    assert [(b.address, new) for b, new in results] == [
        ("192.0.2.1", False),
        ("192.0.2.2", True),
        ("192.0.2.3", True),
        ("192.0.2.2", False),
    ]
    stored = {b.address: b for b in ledger.active()}
    assert stored["192.0.2.1"].expires == 2000.0 and stored["192.0.2.1"].hits == 2
    assert stored["192.0.2.2"].expires == 1800.0 and stored["192.0.2.2"].hits == 2
    assert {b.address: b.id for b, _ in results} == {a: b.id for a, b in stored.items()}
