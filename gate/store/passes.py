"""The pass store: residents' cards in SQLite (registry.db under storage.dir).

The CLI and the daemon open the same file; SQLite WAL lets the daemon read every tap fresh, so a
pass added or revoked from the CLI counts at the very next tap. A pass may carry its own quarantine
(`quarantine_until`); it is set only through `set_quarantine`, never by an upsert, so re-sending a
roster from the station or a CSV never lifts a home observation by accident.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Iterable, Iterator

from gate.core.errors import InputError
from gate.core.passes import CSV_COLUMNS, Pass, parse_pass_csv
from gate.core.timefmt import format_ts, parse_ts
from gate.store.base import SqliteStore


_SCHEMA = """
CREATE TABLE IF NOT EXISTS passes (
    card TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    household TEXT,
    pass_type TEXT NOT NULL DEFAULT 'resident',
    valid_from TEXT,
    valid_until TEXT,
    revoked_at TEXT,
    updated_at TEXT NOT NULL,
    quarantine_until TEXT
);
CREATE INDEX IF NOT EXISTS passes_household ON passes(household);
"""


_COLUMNS = "card, name, household, pass_type, valid_from, valid_until, revoked_at, quarantine_until"


_PAGE = 2000  # rows per page when streaming the whole table (memory stays flat at a million passes)


def _row_to_pass(row) -> Pass:
    card, name, household, pass_type, vf, vu, rv, qu = row
    return Pass(
        card,
        name,
        household,
        pass_type,
        parse_ts(vf) if vf else None,
        parse_ts(vu) if vu else None,
        parse_ts(rv) if rv else None,
        parse_ts(qu) if qu else None,
    )


class PassExists(InputError):
    """`add` of a card that has a pass already, without `replace`."""


class PassStore(SqliteStore):
    """Registered passes. Thread-safe; every read goes to SQLite so other processes' changes show at once."""

    CSV_COLUMNS = CSV_COLUMNS
    SCHEMA = _SCHEMA
    WHAT = "passes table"

    def _prepare(self) -> None:
        """Registries written before community rules lack `quarantine_until`: add it in place."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(passes)")}
        if "quarantine_until" not in columns:
            self._conn.execute("ALTER TABLE passes ADD COLUMN quarantine_until TEXT")

    @staticmethod
    def _now() -> str:
        return format_ts(datetime.now(timezone.utc))

    def get(self, card: str) -> Pass | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM passes WHERE card = ?", (card,)).fetchone()
        return _row_to_pass(row) if row else None

    def upsert_many(self, passes: Iterable[Pass]) -> int:
        """Insert or replace passes in one transaction (all or nothing). A re-added pass is un-revoked."""
        rows = [
            (
                p.card,
                p.name,
                p.household,
                p.pass_type,
                format_ts(p.valid_from) if p.valid_from else None,
                format_ts(p.valid_until) if p.valid_until else None,
                self._now(),
            )
            for p in passes
        ]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO passes(card, name, household, pass_type, valid_from, valid_until, revoked_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?)"
                " ON CONFLICT(card) DO UPDATE SET name=excluded.name, household=excluded.household,"
                " pass_type=excluded.pass_type, valid_from=excluded.valid_from,"
                " valid_until=excluded.valid_until, revoked_at=NULL, updated_at=excluded.updated_at",
                rows,
            )
        return len(rows)

    def add(self, p: Pass, *, replace: bool = False) -> None:
        """Register a pass. A card that has one already is refused (PassExists naming its holder)
        unless `replace`: then every field is the new pass's and it is un-revoked (quarantine stays)."""
        if replace:
            self.upsert_many([p])
            return
        with self._transaction() as conn:
            old = conn.execute("SELECT name, household, revoked_at FROM passes WHERE card = ?",
                               (p.card,)).fetchone()
            if old is not None:
                name, household, revoked = old
                raise PassExists(
                    f"card {p.card} has a pass already ({name}"
                    f"{', household ' + household if household else ''}{', revoked' if revoked else ''}); "
                    "give --replace to replace it")
            conn.execute(
                "INSERT INTO passes(card, name, household, pass_type, valid_from, valid_until, revoked_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (p.card, p.name, p.household, p.pass_type,
                 format_ts(p.valid_from) if p.valid_from else None,
                 format_ts(p.valid_until) if p.valid_until else None, self._now()))

    def revoke(self, card: str) -> bool:
        """Mark a pass revoked (kept, so refusals say 'revoked'). False when the card is unknown."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE passes SET revoked_at = ?, updated_at = ? WHERE card = ? AND revoked_at IS NULL",
                (self._now(), self._now(), card),
            )
            if cur.rowcount:
                return True
            return self._conn.execute("SELECT 1 FROM passes WHERE card = ?", (card,)).fetchone() is not None

    def revoke_many(self, cards: Iterable[str]) -> int:
        return sum(1 for c in cards if self.revoke(c))

    def set_quarantine(self, card: str, until: datetime | None) -> bool:
        """Put one pass under home observation until `until` (None lifts it). False when the card is unknown."""
        value = format_ts(until) if until else None
        with self._lock:
            cur = self._conn.execute(
                "UPDATE passes SET quarantine_until = ?, updated_at = ? WHERE card = ?", (value, self._now(), card)
            )
        return cur.rowcount > 0

    def iter_all(self) -> Iterator[Pass]:
        """Every pass in card order, streamed page by page (never the whole table in memory)."""
        after = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM passes WHERE card > ? ORDER BY card LIMIT ?", (after, _PAGE)
                ).fetchall()
            for row in rows:
                yield _row_to_pass(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def in_household(self, household: str) -> list[Pass]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM passes WHERE household = ? ORDER BY card", (household,)
            ).fetchall()
        return [_row_to_pass(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM passes").fetchone()[0]

    def import_csv_text(self, text: str, source: str = "CSV") -> int:
        """Import a CSV with a header row. Any bad row rejects the whole file (InputError names its line)."""
        return self.upsert_many(parse_pass_csv(text, source))

    def export_csv(self) -> str:
        out = io.StringIO()
        self.write_csv(out)
        return out.getvalue()

    def write_csv(self, out) -> int:
        """Stream the active (not revoked) passes as CSV to a text file; the import reads it back."""
        writer = csv.writer(out)
        n = 0
        writer.writerow(self.CSV_COLUMNS)
        for p in self.iter_all():
            if p.revoked:
                continue
            j = p.to_json()
            writer.writerow([j["card"], j["name"], j["household"] or "", j["valid_from"] or "", j["valid_until"] or "", j["pass_type"]])
            n += 1
        return n
