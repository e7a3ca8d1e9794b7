"""The rules' own memory: who is in or out, and the outings each household made.

Kept in its own SQLite file (rules.db under storage.dir), not in registry.db: a 100,000-row CSV
import holds registry.db's write lock for seconds, and a tap must never wait for it. Two backends
with one contract (tests run the same suite on both): `SqliteRuleState` and `MemoryRuleState`.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Protocol

from ..errors import StorageError
from ..sqlite_store import SqliteStore
from .policy import Presence

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


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class RuleState(Protocol):
    """The port the rules engine reads and writes its state through."""

    def presence(self, card: str) -> Presence | None: ...

    def outings_since(self, household: str, since: datetime) -> int: ...

    def record_passage(self, card: str, state: str, at: datetime, *, outing_of: str | None) -> None:
        """One atomic write: the pass is now `state` ("in"/"out"); `outing_of` (a household key) when
        this exit is an outing to count."""
        ...

    def open_outings(self) -> list[tuple[str, datetime]]:
        """Passes out on an outing whose overdue alarm has not been raised: (card, left at)."""
        ...

    def mark_overdue(self, card: str, left_at: datetime) -> bool: ...

    def prune_outings(self, before: datetime) -> int: ...

    def close(self) -> None: ...


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


class MemoryRuleState:
    """RuleState in memory, for tests and for a gate run without rules state on disk."""

    def __init__(self):
        self._presence: dict[str, Presence] = {}
        self._outings: list[tuple[str, int]] = []

    def close(self) -> None:
        pass

    def presence(self, card: str) -> Presence | None:
        return self._presence.get(card)

    def outings_since(self, household: str, since: datetime) -> int:
        ms = to_ms(since)
        return sum(1 for h, at in self._outings if h == household and at >= ms)

    def record_passage(self, card: str, state: str, at: datetime, *, outing_of: str | None) -> None:
        at = from_ms(to_ms(at))  # the same millisecond resolution as SQLite
        self._presence[card] = Presence(state, at, outing_of is not None, False)
        if outing_of is not None:
            self._outings.append((outing_of, to_ms(at)))

    def open_outings(self) -> list[tuple[str, datetime]]:
        return [(c, p.at) for c, p in self._presence.items() if p.state == "out" and p.outing and not p.overdue_raised]

    def mark_overdue(self, card: str, left_at: datetime) -> bool:
        p = self._presence.get(card)
        if p is None or p.state != "out" or to_ms(p.at) != to_ms(left_at):
            return False
        self._presence[card] = Presence(p.state, p.at, p.outing, True)
        return True

    def prune_outings(self, before: datetime) -> int:
        ms = to_ms(before)
        kept = [(h, at) for h, at in self._outings if at >= ms]
        removed, self._outings = len(self._outings) - len(kept), kept
        return removed
