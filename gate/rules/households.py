"""Households in the registry (registry.db, beside the passes): name, note and home observation.

A pass names its household by id; the household row is optional (a pass may name a household that
has no row) and holds what applies to every member, today the quarantine end.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator

from ..errors import InputError
from ..sqlite_store import SqliteStore
from ..timefmt import format_ts, parse_ts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS households (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    quarantine_until TEXT,
    updated_at TEXT NOT NULL
);
"""
_ID = re.compile(r"^[^\x00-\x1f]{1,64}$")
CSV_COLUMNS = ("household", "name", "note", "quarantine_until")


@dataclass(frozen=True)
class Household:
    """One household: `id` is what passes name in their `household` field."""

    id: str
    name: str = ""
    note: str = ""
    quarantine_until: datetime | None = None

    def to_json(self) -> dict:
        return {
            "household": self.id,
            "name": self.name,
            "note": self.note,
            "quarantine_until": format_ts(self.quarantine_until) if self.quarantine_until else None,
        }


def check_household_id(value, where: str = "") -> str:
    """A household id: 1-64 printable characters, surrounding spaces dropped."""
    text = value.strip() if isinstance(value, str) else ""
    if not _ID.match(text):
        raise InputError(f"{where}household: must be 1-64 printable characters, got {value!r}")
    return text


def _when(value, where: str, label: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise InputError(f"{where}{label}: {exc}") from None


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


def parse_household_csv(text: str, source: str = "CSV") -> list[tuple[Household, bool]]:
    """Validate a households CSV (header `household[,name,note,quarantine_until]`).

    Any bad row rejects the whole file: InputError '<source> line N: ...'. When the file has a
    `quarantine_until` column, each row sets its household's observation (empty lifts it); without
    that column the stored observations are left alone.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError(f"{source} line 1: empty file, expected a header row with household,name,...")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"{source} line 1: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(CSV_COLUMNS)}")
    if "household" not in header:
        raise InputError(f"{source} line 1: missing required column 'household'")
    reader.fieldnames = header
    sets_quarantine = "quarantine_until" in header
    seen: dict[str, int] = {}
    out: list[tuple[Household, bool]] = []
    for row in reader:
        line = reader.line_num
        where = f"{source} line {line}: "
        if None in row:
            raise InputError(f"{where}more fields than the header has")
        values = {k: (v or "").strip() for k, v in row.items()}
        hid = check_household_id(values.get("household", ""), where)
        if hid in seen:
            raise InputError(f"{where}household {hid} already on line {seen[hid]}")
        seen[hid] = line
        name, note = values.get("name", ""), values.get("note", "")
        if len(name) > 200 or len(note) > 500:
            raise InputError(f"{where}name/note: too long (200/500 characters at most)")
        until = _when(values.get("quarantine_until"), where, "quarantine_until")
        out.append((Household(hid, name, note, until), sets_quarantine))
    return out
