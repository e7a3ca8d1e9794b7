"""The pass store: residents' cards in SQLite (registry.db under storage.dir).

The CLI and the daemon open the same file; SQLite WAL lets the daemon read every tap fresh, so a
pass added or revoked from the CLI counts at the very next tap. A pass may carry its own quarantine
(`quarantine_until`); it is set only through `set_quarantine`, never by an upsert, so re-sending a
roster from the station or a CSV never lifts a home observation by accident.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Iterable, Iterator

from .errors import InputError
from .sqlite_store import SqliteStore
from .timefmt import format_ts, parse_ts
from .uid import normalize_uid

PASS_TYPES = ("resident", "visitor", "worker", "delivery", "staff")

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


@dataclass(frozen=True)
class Pass:
    """One registered card."""

    card: str
    name: str
    household: str | None = None
    pass_type: str = "resident"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    quarantine_until: datetime | None = None  # home observation of this pass alone (households have their own)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict:
        return {
            "card": self.card,
            "name": self.name,
            "household": self.household,
            "pass_type": self.pass_type,
            "valid_from": format_ts(self.valid_from) if self.valid_from else None,
            "valid_until": format_ts(self.valid_until) if self.valid_until else None,
            "revoked": self.revoked,
            "revoked_at": format_ts(self.revoked_at) if self.revoked_at else None,
            "quarantine_until": format_ts(self.quarantine_until) if self.quarantine_until else None,
        }


def make_pass(
    card: str,
    name: str,
    household: str | None = None,
    valid_from: str | datetime | None = None,
    valid_until: str | datetime | None = None,
    pass_type: str = "resident",
    *,
    where: str = "",
    tz: tzinfo = timezone.utc,
) -> Pass:
    """Validate raw fields into a Pass. Errors are InputError prefixed by `where` (e.g. 'line 4: ').

    A bare date is a whole day in the gate's time zone `tz`: `valid_from 2026-12-01` starts at that
    day's midnight, `valid_until 2026-12-31` lasts through the 31st (it ends at the next midnight).
    """
    try:
        uid = normalize_uid(card)
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}name: must not be empty")
    if len(name) > 200:
        raise InputError(f"{where}name: longer than 200 characters")
    if pass_type not in PASS_TYPES:
        raise InputError(f"{where}pass_type: must be one of {', '.join(PASS_TYPES)}, got {pass_type!r}")

    def when(value, label):
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        try:
            if isinstance(value, str) and len(value.strip()) == 10:
                day = date.fromisoformat(value.strip())
                if label == "valid_until":
                    day += timedelta(days=1)
                return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)
            return parse_ts(value)
        except ValueError as exc:
            raise InputError(f"{where}{label}: {exc}") from None

    start, end = when(valid_from, "valid_from"), when(valid_until, "valid_until")
    if start and end and end <= start:
        raise InputError(f"{where}valid_until: must be after valid_from")
    household = household.strip() if isinstance(household, str) and household.strip() else None
    return Pass(uid, name.strip(), household, pass_type, start, end)


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


class PassStore(SqliteStore):
    """Registered passes. Thread-safe; every read goes to SQLite so other processes' changes show at once."""

    CSV_COLUMNS = ("card", "name", "household", "valid_from", "valid_until", "pass_type")
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

    def add(self, p: Pass) -> None:
        self.upsert_many([p])

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


def parse_pass_csv(text: str, source: str = "CSV", tz: tzinfo = timezone.utc) -> list[Pass]:
    """Parse and validate every row; raise InputError '<source> line N: ...' at the first bad one."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError(f"{source} line 1: empty file, expected a header row with card,name,...")
    unknown = [h for h in header if h not in PassStore.CSV_COLUMNS]
    if unknown:
        raise InputError(f"{source} line 1: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(PassStore.CSV_COLUMNS)}")
    for required in ("card", "name"):
        if required not in header:
            raise InputError(f"{source} line 1: missing required column {required!r}")
    reader.fieldnames = header
    seen: dict[str, int] = {}
    result: list[Pass] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputError(f"{source} line {line}: more fields than the header has")
        values = {k: (v or "").strip() for k, v in row.items()}
        p = make_pass(
            values.get("card", ""),
            values.get("name", ""),
            values.get("household") or None,
            values.get("valid_from") or None,
            values.get("valid_until") or None,
            values.get("pass_type") or "resident",
            where=f"{source} line {line}: ", tz=tz,
        )
        if p.card in seen:
            raise InputError(f"{source} line {line}: card {p.card} already on line {seen[p.card]}")
        seen[p.card] = line
        result.append(p)
    return result
