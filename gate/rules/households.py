"""Households: name, note and home observation, as values, and their CSV format.

A pass names its household by id; the household row is optional (a pass may name a household that
has no row) and holds what applies to every member, today the quarantine end. They are stored in
registry.db by `gate.store.households.HouseholdStore`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from gate.core.csvtext import csv_records
from gate.core.errors import InputError
from gate.core.passes import parse_when
from gate.core.timefmt import format_ts

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


def _when(value, where: str, label: str, tz: tzinfo = timezone.utc) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_when(value, tz, end=True)
    except ValueError as exc:
        raise InputError(f"{where}{label}: {exc}") from None






def parse_household_csv(text: str, source: str = "CSV",
                        tz: tzinfo = timezone.utc) -> list[tuple[Household, bool]]:
    """Validate a households CSV (header `household[,name,note,quarantine_until]`).

    Any bad row rejects the whole file: InputError '<source> line N: ...' (strict rows:
    `gate.core.csvtext`; a bare `quarantine_until` date lasts through that day in `tz`). When the
    file has a `quarantine_until` column, each row sets its household's observation (empty lifts
    it); without that column the stored observations are left alone.
    """
    records = csv_records(text, source, CSV_COLUMNS, ("household",), "household,name,...")
    sets_quarantine = bool(records) and "quarantine_until" in records[0][1]
    seen: dict[str, int] = {}
    out: list[tuple[Household, bool]] = []
    for line, values in records:
        where = f"{source} line {line}: "
        hid = check_household_id(values.get("household", ""), where)
        if hid in seen:
            raise InputError(f"{where}household {hid} already on line {seen[hid]}")
        seen[hid] = line
        name, note = values.get("name", ""), values.get("note", "")
        if len(name) > 200 or len(note) > 500:
            raise InputError(f"{where}name/note: too long (200/500 characters at most)")
        until = _when(values.get("quarantine_until"), where, "quarantine_until", tz)
        out.append((Household(hid, name, note, until), sets_quarantine))
    return out
