"""Households in SQLite (registry.db, beside the passes): name, note and home observation.

The household value and its CSV format are `gate.rules.households`; this is their store.
"""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from typing import Iterable, Iterator

from gate.core.timefmt import format_ts, parse_ts
from gate.rules.households import CSV_COLUMNS, Household, parse_household_csv
from gate.store.base import SqliteStore


_SCHEMA = """
CREATE TABLE IF NOT EXISTS households (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    quarantine_until TEXT,
    updated_at TEXT NOT NULL
);
"""


class HouseholdStore(SqliteStore):
    """Households in SQLite. Thread-safe; reads go to the file, so CLI and station changes count at once."""

    SCHEMA = _SCHEMA
    WHAT = "households table"

    def get(self, household: str) -> Household | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, note, quarantine_until FROM households WHERE id = ?", (household,)
            ).fetchone()
        return _row(row) if row else None

    def quarantine_until(self, household: str) -> datetime | None:
        """The household's observation end (None: not under observation or no such row)."""
        with self._lock:
            row = self._conn.execute("SELECT quarantine_until FROM households WHERE id = ?", (household,)).fetchone()
        return parse_ts(row[0]) if row and row[0] else None

    def upsert_many(self, rows: Iterable[tuple[Household, bool]]) -> int:
        """Insert or update households in one transaction. The flag says whether the row's
        `quarantine_until` is to be written (False keeps the stored one)."""
        now = format_ts(datetime.now(timezone.utc))
        params = [
            (h.id, h.name, h.note, format_ts(h.quarantine_until) if h.quarantine_until else None, int(setq), now)
            for h, setq in rows
        ]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO households(id, name, note, quarantine_until, updated_at) VALUES (?1, ?2, ?3, ?4, ?6)"
                " ON CONFLICT(id) DO UPDATE SET name = excluded.name, note = excluded.note,"
                " quarantine_until = CASE WHEN ?5 THEN excluded.quarantine_until ELSE quarantine_until END,"
                " updated_at = excluded.updated_at",
                params,
            )
        return len(params)

    def add(self, household: Household) -> None:
        """Create or rename a household; its quarantine is left as it is."""
        self.upsert_many([(household, False)])

    def set_quarantine(self, household: str, until: datetime | None) -> None:
        """Start (or move) a household's home observation; None lifts it. Creates the row if needed."""
        value = format_ts(until) if until else None
        now = format_ts(datetime.now(timezone.utc))
        with self._lock:
            self._conn.execute(
                "INSERT INTO households(id, quarantine_until, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET quarantine_until = excluded.quarantine_until,"
                " updated_at = excluded.updated_at",
                (household, value, now),
            )

    def iter_all(self) -> Iterator[Household]:
        with self._lock:
            rows = self._conn.execute("SELECT id, name, note, quarantine_until FROM households ORDER BY id").fetchall()
        for row in rows:
            yield _row(row)

    def import_csv_text(self, text: str, source: str = "CSV") -> int:
        return self.upsert_many(parse_household_csv(text, source))

    def write_csv(self, out) -> int:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        n = 0
        for h in self.iter_all():
            j = h.to_json()
            writer.writerow([h.id, h.name, h.note, j["quarantine_until"] or ""])
            n += 1
        return n


def _row(row) -> Household:
    hid, name, note, qu = row
    return Household(hid, name or "", note or "", parse_ts(qu) if qu else None)
