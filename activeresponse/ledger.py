"""The ledger: one SQLite file, the source of truth for what we blocked, why and until when.

Rows are never deleted: a block that ends gets ``removed`` (time) and ``removed_by``
(expired, agent, admin, ...), so history is there for repeat-offender escalation and
audits. At most one active row per address (a partial unique index), which is how a
second ``add`` extends a block instead of duplicating it.

Writers hold the activeresponse lock; WAL lets readers (``list``) run beside them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .errors import StateError
from .fileutil import check_private, ensure_dir
from .model import Block

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    family INTEGER NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    origin TEXT NOT NULL,
    alert_id TEXT NOT NULL DEFAULT '',
    rule_id TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    hits INTEGER NOT NULL DEFAULT 1,
    offence INTEGER NOT NULL DEFAULT 1,
    removed REAL,
    removed_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS blocks_one_active ON blocks(address) WHERE removed IS NULL;
CREATE INDEX IF NOT EXISTS blocks_due ON blocks(expires) WHERE removed IS NULL;
CREATE INDEX IF NOT EXISTS blocks_history ON blocks(address, created);
CREATE TABLE IF NOT EXISTS allows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    reason TEXT NOT NULL DEFAULT '',
    removed REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS allows_one_active ON allows(address) WHERE removed IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_BLOCK_COLUMNS = (
    "id, address, created, expires, origin, alert_id, rule_id, user, reason, hits, offence"
)


def _block(row: tuple) -> Block:
    return Block(
        None,
        address=row[1],
        family=6 if ":" in row[1] else 4,
        id=row[0],
        created=row[2],
        expires=row[3],
        origin=row[4],
        alert_id=row[5],
        rule_id=row[6],
        user=row[7],
        reason=row[8],
        hits=row[9],
        offence=row[10],
    )


def open_private_db(path: str, schema: str, version: int, *, what: str) -> sqlite3.Connection:
    """One of our SQLite files: directory 0700, file (and its -wal/-shm) 0600, refused if
    unsafe, WAL with full fsync, ``schema`` applied once per ``version``."""
    ensure_dir(os.path.dirname(path) or ".", 0o700)
    check_private(path, what=what)
    old_umask = os.umask(0o077)
    try:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA user_version").fetchone()[0] != version:
            # Idempotent, and serialised by BEGIN IMMEDIATE if two processes race.
            db.executescript(f"BEGIN IMMEDIATE;{schema}PRAGMA user_version={version};COMMIT;")
        return db
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{what} {path}: {exc}") from None
    finally:
        os.umask(old_umask)


class Ledger:
    """Access to the ledger file. Use :meth:`transaction` around every change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = open_private_db(path, _SCHEMA, SCHEMA_VERSION, what="ledger")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back
        on any exception, so a failed firewall change leaves no ledger change behind."""
        if self._db.in_transaction:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"ledger {self.path}: {exc}") from None
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"ledger {self.path}: commit failed: {exc}") from None

    # -- blocks ---------------------------------------------------------------------------

    def active(self, family: int | None = None) -> list[Block]:
        """Every active block, oldest first (the order ``list`` numbers them in)."""
        sql = f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE removed IS NULL"
        args: tuple = ()
        if family is not None:
            sql += " AND family = ?"
            args = (family,)
        return [_block(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def active_addresses(self, family: int | None = None) -> set[str]:
        sql = "SELECT address FROM blocks WHERE removed IS NULL"
        if family is None:
            return {r[0] for r in self._db.execute(sql)}
        return {r[0] for r in self._db.execute(sql + " AND family = ?", (family,))}

    def find_active(self, address: str) -> Block | None:
        row = self._db.execute(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE removed IS NULL AND address = ?",
            (address,),
        ).fetchone()
        return _block(row) if row else None

    def count_active(self) -> int:
        return self._db.execute("SELECT count(*) FROM blocks WHERE removed IS NULL").fetchone()[0]

    def due(self, now: float) -> list[Block]:
        """Active blocks whose expiry has passed."""
        rows = self._db.execute(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE removed IS NULL "
            "AND expires IS NOT NULL AND expires <= ? ORDER BY id",
            (now,),
        )
        return [_block(r) for r in rows]

    def next_expiry(self) -> float | None:
        return self._db.execute(
            "SELECT min(expires) FROM blocks WHERE removed IS NULL AND expires IS NOT NULL"
        ).fetchone()[0]

    def upsert(self, block: Block) -> tuple[Block, bool]:
        """Record ``block``. If its address is already blocked, extend that block instead
        (later expiry wins, permanent stays permanent) and count the hit.

        Returns the stored block and whether it is new.
        """
        return self.upsert_many([block])[0]

    def upsert_many(self, blocks: Iterable[Block]) -> list[tuple[Block, bool]]:
        """:meth:`upsert` for many blocks at once (an import): the active rows are read
        once, not once per block. Repeats within ``blocks`` extend the first."""
        blocks = list(blocks)
        if len(blocks) == 1:
            found = self.find_active(blocks[0].address)
            current = {found.address: found} if found else {}
        else:
            current = {b.address: b for b in self.active()}
        results: list[tuple[Block, bool]] = []
        changed: dict[int, Block] = {}
        fresh: list[Block] = []
        for block in blocks:
            existing = current.get(block.address)
            if existing is None:
                current[block.address] = block
                fresh.append(block)
                results.append((block, True))
                continue
            if existing.expires is not None and (
                block.expires is None or block.expires > existing.expires
            ):
                existing.expires = block.expires
            existing.hits += 1
            if existing.id is not None:
                changed[existing.id] = existing
            results.append((existing, False))
        if fresh:
            self._db.executemany(
                "INSERT INTO blocks (address, family, created, expires, origin, alert_id, "
                "rule_id, user, reason, hits, offence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(b.address, b.family, b.created, b.expires, b.origin, b.alert_id, b.rule_id,
                  b.user, b.reason, b.hits, b.offence) for b in fresh],
            )  # fmt: skip
            # Writers hold BEGIN IMMEDIATE, so AUTOINCREMENT gave these rows consecutive ids.
            last = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            for offset, block in enumerate(fresh):
                block.id = last - len(fresh) + 1 + offset
            first = self._db.execute("SELECT address FROM blocks WHERE id = ?", (fresh[0].id,))
            if first.fetchone() != (fresh[0].address,):
                raise StateError(f"ledger {self.path}: unexpected row ids after an insert")
        self._db.executemany(
            "UPDATE blocks SET expires = ?, hits = ? WHERE id = ?",
            [(b.expires, b.hits, b.id) for b in changed.values()],
        )
        return results

    def close_blocks(self, ids: Iterable[int], now: float, removed_by: str) -> int:
        """Mark blocks as ended; returns how many were active."""
        cur = self._db.executemany(
            "UPDATE blocks SET removed = ?, removed_by = ? WHERE id = ? AND removed IS NULL",
            [(now, removed_by, i) for i in ids],
        )
        return cur.rowcount

    def recent_count(self, address: str, since: float) -> int:
        """How many blocks of ``address`` were created since ``since`` (repeat offenders)."""
        return self._db.execute(
            "SELECT count(*) FROM blocks WHERE address = ? AND created >= ?", (address, since)
        ).fetchone()[0]

    # -- allowlist entries made from the CLI (the config's allowlist is static) -----------

    def active_allows(self, now: float) -> list[tuple[str, float | None, str]]:
        """(address, expires, reason) of allow entries still in force, oldest first."""
        return list(
            self._db.execute(
                "SELECT address, expires, reason FROM allows WHERE removed IS NULL "
                "AND (expires IS NULL OR expires > ?) ORDER BY id",
                (now,),
            )
        )

    def add_allow(self, address: str, expires: float | None, reason: str, now: float) -> None:
        """Allow ``address``; an existing entry for it is replaced (new expiry, reason)."""
        self._db.execute(
            "UPDATE allows SET removed = ? WHERE address = ? AND removed IS NULL", (now, address)
        )
        self._db.execute(
            "INSERT INTO allows (address, created, expires, reason) VALUES (?, ?, ?, ?)",
            (address, now, expires, reason),
        )

    def remove_allow(self, address: str, now: float) -> bool:
        cur = self._db.execute(
            "UPDATE allows SET removed = ? WHERE address = ? AND removed IS NULL", (now, address)
        )
        return cur.rowcount > 0

    def expire_allows(self, now: float) -> list[str]:
        """End allow entries whose time is up; returns their addresses."""
        rows = [
            r[0]
            for r in self._db.execute(
                "SELECT address FROM allows WHERE removed IS NULL AND expires IS NOT NULL "
                "AND expires <= ?",
                (now,),
            )
        ]
        self._db.execute(
            "UPDATE allows SET removed = expires WHERE removed IS NULL AND expires IS NOT NULL "
            "AND expires <= ?",
            (now,),
        )
        return rows

    # -- small facts (e.g. when expiry last ran) ------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def history(self, address: str) -> tuple[int, float | None]:
        """How many blocks of ``address`` the ledger holds (ended ones included), and
        when the first began."""
        count, first = self._db.execute(
            "SELECT count(*), min(created) FROM blocks WHERE address = ?", (address,)
        ).fetchone()
        return count, first
