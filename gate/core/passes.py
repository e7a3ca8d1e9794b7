"""A resident's pass as a value: the `Pass` record, its validation, and the pass CSV format.

Pure: the SQLite store of passes is `gate.store.passes.PassStore`.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from gate.core.errors import InputError
from gate.core.timefmt import format_ts, parse_ts
from gate.core.uid import normalize_uid

PASS_TYPES = ("resident", "visitor", "worker", "delivery", "staff")
CSV_COLUMNS = ("card", "name", "household", "valid_from", "valid_until", "pass_type")


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






def parse_pass_csv(text: str, source: str = "CSV", tz: tzinfo = timezone.utc) -> list[Pass]:
    """Parse and validate every row; raise InputError '<source> line N: ...' at the first bad one."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError(f"{source} line 1: empty file, expected a header row with card,name,...")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"{source} line 1: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(CSV_COLUMNS)}")
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
