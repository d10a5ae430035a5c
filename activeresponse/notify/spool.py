"""The notification spool: one SQLite file (``<state_dir>/notify.sqlite3``, mode 0600).

firewall-drop adds each event here in one short transaction after its block is
committed; the sender (background, cron or CLI) reads what is pending per channel and
marks it sent only after the channel accepted it, so a crash or a dead mail server
loses nothing (at worst a message is sent twice). Its own file, so a damaged or busy
spool can never stand in the way of the ledger.

Events are stored as Python literals (``repr``), read back with ``ast.literal_eval``:
``json`` would cost firewall-drop's OSSEC path about 9 ms of imports (it pulls in
``re``); ``repr`` of plain data costs nothing and reading it back evaluates literals only.
"""

from __future__ import annotations

import os
import sqlite3

from ..errors import StateError
from ..ledger import open_private_db

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id INTEGER NOT NULL REFERENCES events(id),
    channel TEXT NOT NULL,
    sent REAL,
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, channel)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(channel, event_id)
    WHERE sent IS NULL;
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY,
    last_sent REAL,
    last_try REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try REAL,
    last_error TEXT NOT NULL DEFAULT ''
);
"""


class ChannelState:
    """What the spool remembers of one channel: when it last sent, and its failures."""

    __slots__ = ("failures", "last_error", "last_sent", "last_try", "name", "next_try")

    def __init__(
        self,
        name: str,
        last_sent: float | None = None,
        last_try: float | None = None,
        failures: int = 0,
        next_try: float | None = None,
        last_error: str = "",
    ) -> None:
        self.name = name
        self.last_sent = last_sent
        self.last_try = last_try
        self.failures = failures
        self.next_try = next_try
        self.last_error = last_error


def due_time(state: ChannelState, oldest: float, gather: float, digest: float) -> float:
    """When a channel's pending events are due: the oldest waits ``gather`` seconds for
    others; after a message, the next waits for the ``digest`` interval; after a failure,
    for the retry time."""
    due = oldest + gather
    if state.last_sent is not None:
        due = max(due, state.last_sent + digest)
    if state.next_try is not None:
        due = max(due, state.next_try)
    return due


class Spool:
    """Access to the spool file. ``create=False`` opens an existing spool only (readers
    such as ``status`` must not create state)."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        if not create and not os.path.exists(path):
            raise FileNotFoundError(path)
        self._db = open_private_db(path, _SCHEMA, SCHEMA_VERSION, what="notification spool")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, statements: list[tuple[str, list]]) -> None:
        """Run ``(sql, rows)`` pairs as one transaction (all or nothing)."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    db.executemany(sql, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"notification spool {self.path}: {exc}") from None

    # -- the agent's side -----------------------------------------------------------------

    def add(self, events: list[dict], channels: list[str]) -> list[int]:
        """Store events, each pending on every channel; returns their ids."""
        db = self._db
        ids: list[int] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    cur = db.execute(
                        "INSERT INTO events (created, kind, address, data) VALUES (?, ?, ?, ?)",
                        (event["time"], event["kind"], event["address"], repr(event)),
                    )
                    ids.append(cur.lastrowid)  # type: ignore[arg-type]
                db.executemany(
                    "INSERT INTO deliveries (event_id, channel) VALUES (?, ?)",
                    [(i, c) for i in ids for c in channels],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"notification spool {self.path}: {exc}") from None
        return ids

    # -- the sender's side ----------------------------------------------------------------

    def pending(self, channel: str, limit: int) -> list[tuple[int, float, str]]:
        """(id, created, data) of the oldest events not yet sent on ``channel``."""
        return self._db.execute(
            "SELECT e.id, e.created, e.data FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.channel = ? AND d.sent IS NULL ORDER BY e.id LIMIT ?",
            (channel, limit),
        ).fetchall()

    def oldest_pending(self, channel: str) -> float | None:
        """Time of the oldest event pending on ``channel`` (ids grow with time, and the
        partial index finds the smallest pending id without a scan)."""
        row = self._db.execute(
            "SELECT e.created FROM events e WHERE e.id = (SELECT min(event_id)"
            " FROM deliveries WHERE channel = ? AND sent IS NULL)",
            (channel,),
        ).fetchone()
        return row[0] if row else None

    def next_due(self, channels: list[str], gather: float, digest: float) -> float | None:
        """When the first of these channels has something due (None: nothing pending)."""
        times = []
        for name in channels:
            oldest = self.oldest_pending(name)
            if oldest is not None:
                times.append(due_time(self.channel(name), oldest, gather, digest))
        return min(times) if times else None

    def channel(self, name: str) -> ChannelState:
        row = self._db.execute(
            "SELECT name, last_sent, last_try, failures, next_try, last_error FROM channels"
            " WHERE name = ?",
            (name,),
        ).fetchone()
        return ChannelState(*row) if row else ChannelState(name)

    def mark_sent(self, channel: str, ids: list[int], now: float, message: str) -> None:
        self._write(
            [
                (
                    "UPDATE deliveries SET sent = ?, message = ?"
                    " WHERE event_id = ? AND channel = ?",
                    [(now, message, i, channel) for i in ids],
                ),
                (
                    "INSERT INTO channels (name, last_sent, last_try, failures, next_try,"
                    " last_error) VALUES (?, ?, ?, 0, NULL, '') ON CONFLICT(name) DO UPDATE SET"
                    " last_sent = excluded.last_sent, last_try = excluded.last_try,"
                    " failures = 0, next_try = NULL, last_error = ''",
                    [(channel, now, now)],
                ),
            ]
        )

    def mark_failed(self, channel: str, now: float, error: str, next_try: float) -> int:
        """Record a failed attempt; returns the number of failures in a row."""
        failures = self.channel(channel).failures + 1
        self._write(
            [
                (
                    "INSERT INTO channels (name, last_try, failures, next_try, last_error)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " last_try = excluded.last_try, failures = excluded.failures,"
                    " next_try = excluded.next_try, last_error = excluded.last_error",
                    [(channel, now, failures, next_try, error[:500])],
                )
            ]
        )
        return failures

    def counts(self) -> dict[str, dict[str, int]]:
        """Per channel: how many events are pending and how many were sent."""
        out: dict[str, dict[str, int]] = {}
        for channel, pending, sent in self._db.execute(
            "SELECT channel, sum(sent IS NULL), sum(sent IS NOT NULL) FROM deliveries"
            " GROUP BY channel"
        ):
            out[channel] = {"pending": pending or 0, "sent": sent or 0}
        return out

    def channels(self) -> list[ChannelState]:
        rows = self._db.execute(
            "SELECT name, last_sent, last_try, failures, next_try, last_error FROM channels"
            " ORDER BY name"
        )
        return [ChannelState(*row) for row in rows]

    def events(self, ids: list[int] | None = None) -> list[tuple[int, float, str]]:
        sql = "SELECT id, created, data FROM events"
        if ids is None:
            return self._db.execute(sql + " ORDER BY id").fetchall()
        marks = ",".join("?" * len(ids))
        return self._db.execute(f"{sql} WHERE id IN ({marks}) ORDER BY id", ids).fetchall()

    def prune(self, before: float) -> int:
        """Forget events sent on every channel before ``before``; pending ones stay."""
        done = (
            "SELECT id FROM events e WHERE created < ? AND NOT EXISTS (SELECT 1 FROM"
            " deliveries d WHERE d.event_id = e.id AND (d.sent IS NULL OR d.sent >= ?))"
        )
        ids = [r[0] for r in self._db.execute(done, (before, before))]
        if ids:
            self._write(
                [
                    ("DELETE FROM deliveries WHERE event_id = ?", [(i,) for i in ids]),
                    ("DELETE FROM events WHERE id = ?", [(i,) for i in ids]),
                ]
            )
        return len(ids)
