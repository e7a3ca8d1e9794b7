"""The rules' memory in SQLite (rules.db under storage.dir): who is in or out, and the outings
each household made.

Its own file, not registry.db: a 100,000-row CSV import holds registry.db's write lock for seconds,
and a tap must never wait for it. `gate.rules.state` has the contract and the in-memory backend;
tests run the same suite on both.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime

from gate.core.errors import StorageError
from gate.rules.policy import Presence
from gate.rules.state import from_ms, to_ms
from gate.store.base import SqliteStore


_SCHEMA = """
CREATE TABLE IF NOT EXISTS presence (
    card TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('in', 'out')),
    at_ms INTEGER NOT NULL,
    outing INTEGER NOT NULL DEFAULT 0,
    overdue_raised INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS presence_open_outings ON presence(state, outing, overdue_raised);
CREATE TABLE IF NOT EXISTS outings (
    household TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outings_by_household ON outings(household, at_ms);
"""


class SqliteRuleState(SqliteStore):
    """RuleState in SQLite (WAL, synchronous=FULL): counts and in/out state survive power loss."""

    SCHEMA = _SCHEMA
    WHAT = "rules state"

    def _prepare(self) -> None:
        self._conn.execute("PRAGMA synchronous=FULL")

    def _query(self, sql: str, args=()) -> list:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc

    def presence(self, card: str) -> Presence | None:
        rows = self._query("SELECT state, at_ms, outing, overdue_raised FROM presence WHERE card = ?", (card,))
        if not rows:
            return None
        state, at_ms, outing, raised = rows[0]
        return Presence(state, from_ms(at_ms), bool(outing), bool(raised))

    def outings_since(self, household: str, since: datetime) -> int:
        return self._query(
            "SELECT COUNT(*) FROM outings WHERE household = ? AND at_ms >= ?", (household, to_ms(since))
        )[0][0]

    def record_passage(self, card: str, state: str, at: datetime, *, outing_of: str | None) -> None:
        ms = to_ms(at)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO presence(card, state, at_ms, outing, overdue_raised) VALUES (?, ?, ?, ?, 0)"
                " ON CONFLICT(card) DO UPDATE SET state = excluded.state, at_ms = excluded.at_ms,"
                " outing = excluded.outing, overdue_raised = 0",
                (card, state, ms, int(outing_of is not None)),
            )
            if outing_of is not None:
                conn.execute("INSERT INTO outings(household, at_ms) VALUES (?, ?)", (outing_of, ms))

    def open_outings(self) -> list[tuple[str, datetime]]:
        rows = self._query(
            "SELECT card, at_ms FROM presence WHERE state = 'out' AND outing = 1 AND overdue_raised = 0"
        )
        return [(card, from_ms(ms)) for card, ms in rows]

    def mark_overdue(self, card: str, left_at: datetime) -> bool:
        with self._lock:
            try:
                cur = self._conn.execute(
                    "UPDATE presence SET overdue_raised = 1 WHERE card = ? AND state = 'out' AND at_ms = ?",
                    (card, to_ms(left_at)),
                )
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc
        return cur.rowcount > 0

    def prune_outings(self, before: datetime) -> int:
        with self._lock:
            try:
                cur = self._conn.execute("DELETE FROM outings WHERE at_ms < ?", (to_ms(before),))
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc
        return cur.rowcount
