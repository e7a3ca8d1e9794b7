"""A resident's pass as a value: the `Pass` record, its validation, and the pass CSV format.

Pure: the SQLite store of passes is `gate.store.passes.PassStore`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from gate.core.errors import InputError
from gate.core.csvtext import csv_records
from gate.core.timefmt import format_ts
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


DATE_RULE = ("a bare date (YYYY-MM-DD) is the whole day in gate.timezone: as a start it begins at "
             "that day's midnight, as an end it lasts through that day; a date-time without a UTC "
             "offset is in gate.timezone too")


def parse_when(value: str | datetime, tz: tzinfo = timezone.utc, *, end: bool = False) -> datetime:
    """One date rule for every command and CSV (DATE_RULE): an aware UTC datetime from an ISO 8601
    date-time, or from a bare date read as a whole day in `tz` (`end`: through that day).
    ValueError, always worded the same: "'31/12/2026' is not a date (YYYY-MM-DD) or an ISO 8601
    date-time (…)"."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(timezone.utc)
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, TypeError) as exc:
        detail = str(exc)
        why = f" ({detail})" if detail and "isoformat" not in detail and "Invalid" not in detail else ""
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time{why}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


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

    Dates follow `DATE_RULE` in the gate's time zone `tz`: `valid_from 2026-12-01` starts at that
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
    control = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if control is not None:
        raise InputError(f"{where}name: contains the control character U+{ord(control):04X}")
    if pass_type not in PASS_TYPES:
        raise InputError(f"{where}pass_type: must be one of {', '.join(PASS_TYPES)}, got {pass_type!r}")

    def when(value, label):
        if value is None or value == "":
            return None
        try:
            return parse_when(value, tz, end=label == "valid_until")
        except ValueError as exc:
            raise InputError(f"{where}{label}: {exc}") from None

    start, end = when(valid_from, "valid_from"), when(valid_until, "valid_until")
    if start and end and end <= start:
        raise InputError(f"{where}valid_until: must be after valid_from")
    household = household.strip() if isinstance(household, str) and household.strip() else None
    return Pass(uid, name.strip(), household, pass_type, start, end)






def parse_pass_csv(text: str, source: str = "CSV", tz: tzinfo = timezone.utc) -> list[Pass]:
    """Parse and validate every row; raise InputError '<source> line N: ...' at the first bad one
    (strict rows: `gate.core.csvtext`; dates: `DATE_RULE` in `tz`)."""
    seen: dict[str, int] = {}
    result: list[Pass] = []
    for line, values in csv_records(text, source, CSV_COLUMNS, ("card", "name"), "card,name,..."):
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
