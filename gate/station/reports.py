"""The community police's daily reports over a compound's stored gate records (docs/registry.md).

For one local day (midnight to midnight in `station.timezone`) at the gates of one compound:

- `unknown_cards`: cards refused as `unknown_card` at least `min_attempts` times (a possible new,
  unregistered resident): card, attempts, gates, first and last time, whether a gate raised
  `unknown_card_repeated` for it;
- `quarantine_exits`: residents under home observation who tried to leave (the gates'
  `quarantine_exit` alarms, or their `access_refused` `quarantine` refusals when the alarm is missing);
- `outings`: granted exits (`access_granted`, `direction: exit`) per household.

Only records with a valid MAC (`verified`) count: an unsigned record is somebody's claim, not the
gate's word; how many were left out is in `unverified`. The records are read with one query through
the store's own connection (SQLite `db` / `query`, PostgreSQL `pool`), so both backends serve it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Callable, Iterable

from gate.core.errors import InputError
from gate.core.timefmt import format_ts, parse_ts

TYPES = ("access_refused", "access_granted", "quarantine_exit", "unknown_card_repeated")
Fetch = Callable[[str, tuple], list[tuple]]


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InputError(f"--date: a day as YYYY-MM-DD, got {text!r}") from None


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The local day's [start, end) as aware datetimes (23 or 25 hours long across a DST change)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def store_fetch(store: Any) -> Fetch:
    """A `fetch(sql, params)` over a station store: `?` placeholders, rewritten for psycopg."""
    pool = getattr(store, "pool", None)
    if pool is not None:
        def fetch_pg(sql: str, params: tuple) -> list[tuple]:
            with pool.connection() as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        return fetch_pg
    if hasattr(store, "query"):
        return store.query
    return lambda sql, params: store.db.execute(sql, params).fetchall()


def read_records(fetch: Fetch, gates: list[str], start: datetime, end: datetime) -> list[tuple[str, str, str, dict, bool]]:
    """(gate, type, ts, payload, verified) of the report's record types in [start, end).

    `ts` strings are compared loosely in SQL (a day either side, as a gate might not write the
    canonical form) and exactly here after parsing."""
    if not gates:
        return []
    lo, hi = format_ts(start - timedelta(days=1)), format_ts(end + timedelta(days=1))
    sql = (f"SELECT gate, type, ts, payload, verified FROM records WHERE gate IN ({','.join('?' * len(gates))}) "
           f"AND type IN ({','.join('?' * len(TYPES))}) AND ts >= ? AND ts < ? ORDER BY ts")
    out = []
    for gate, type_, ts, payload, verified in fetch(sql, (*gates, *TYPES, lo, hi)):
        try:
            moment = parse_ts(ts)
            body = json.loads(payload)
        except (ValueError, TypeError):
            continue  # the store validated it; a row that still does not parse is not evidence
        if start <= moment < end and isinstance(body, dict):
            out.append((gate, type_, format_ts(moment), body, bool(verified)))
    return out


@dataclass
class _Tally:
    attempts: int = 0
    gates: set = field(default_factory=set)
    first: str = ""
    last: str = ""

    def see(self, gate: str, ts: str) -> None:
        self.attempts += 1
        self.gates.add(gate)
        self.first = min(self.first, ts) if self.first else ts
        self.last = max(self.last, ts)


@dataclass(frozen=True)
class Report:
    """One compound's report for one local day; `to_json()` is the JSON form (interface §7)."""

    compound: str
    day: date
    timezone: str
    unknown_cards: list[dict]
    quarantine_exits: list[dict]
    outings: list[dict]
    unverified: int

    def to_json(self) -> dict[str, Any]:
        return {"compound": self.compound, "date": self.day.isoformat(), "timezone": self.timezone,
                "unknown_cards": self.unknown_cards, "quarantine_exits": self.quarantine_exits,
                "outings": self.outings, "unverified_records_left_out": self.unverified}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _local(ts: str, tz: tzinfo) -> str:
    return parse_ts(ts).astimezone(tz).isoformat(timespec="seconds")


def _local_or_raw(text: str, tz: tzinfo) -> str:
    try:
        return _local(text, tz) if text else ""
    except ValueError:
        return text  # the gate's own words, shown as they came


def build_report(records: Iterable[tuple[str, str, str, dict, bool]], *, compound: str, day: date, tz: tzinfo,
                 tz_name: str, min_attempts: int = 2) -> Report:
    unknown: dict[str, _Tally] = {}
    alarmed: set[str] = set()
    quarantine: dict[str, tuple[_Tally, dict]] = {}
    refused_quarantine: dict[str, tuple[_Tally, dict]] = {}
    outings: dict[tuple[str, str], tuple[_Tally, set]] = {}
    unverified = 0
    for gate, type_, ts, body, verified in records:
        if not verified:
            unverified += 1
            continue
        card = _text(body.get("card"))
        if type_ == "access_refused" and body.get("reason") == "unknown_card" and card:
            unknown.setdefault(card, _Tally()).see(gate, ts)
        elif type_ == "unknown_card_repeated" and card:
            alarmed.add(card)
        elif type_ in ("quarantine_exit", "access_refused") and card and (
                type_ == "quarantine_exit" or body.get("reason") == "quarantine"):
            book = quarantine if type_ == "quarantine_exit" else refused_quarantine
            tally, facts = book.setdefault(card, (_Tally(), {}))
            tally.see(gate, ts)
            for key in ("name", "household", "quarantine_until"):
                if _text(body.get(key)):
                    facts[key] = body[key]
        elif type_ == "access_granted" and body.get("direction") == "exit":
            household = _text(body.get("household"))
            # A pass without a household is its own row: never lumped with other such passes.
            tally, cards = outings.setdefault((household, "" if household else card), (_Tally(), set()))
            tally.see(gate, ts)
            cards.add(card)
    for card, pair in refused_quarantine.items():
        quarantine.setdefault(card, pair)  # a refusal whose alarm did not reach the station

    def times(t: _Tally) -> dict:
        return {"gates": sorted(t.gates), "first": t.first, "last": t.last,
                "first_local": _local(t.first, tz), "last_local": _local(t.last, tz)}

    unknown_rows = [{"card": c, "attempts": t.attempts, **times(t), "alarmed": c in alarmed}
                    for c, t in sorted(unknown.items(), key=lambda kv: (-kv[1].attempts, kv[0]))
                    if t.attempts >= min_attempts]
    quarantine_rows = [{"card": c, "name": f.get("name", ""), "household": f.get("household", ""),
                        "quarantine_until": f.get("quarantine_until", ""),
                        "quarantine_until_local": _local_or_raw(f.get("quarantine_until", ""), tz),
                        "attempts": t.attempts, **times(t)}
                       for c, (t, f) in sorted(quarantine.items(), key=lambda kv: kv[1][0].first)]
    outing_rows = [{"household": h, "outings": t.attempts, "cards": sorted(c for c in cards if c), **times(t)}
                   for (h, _), (t, cards) in sorted(outings.items())]
    return Report(compound, day, tz_name, unknown_rows, quarantine_rows, outing_rows, unverified)



def compound_report(fetch: Fetch, gates: list[str], *, compound: str, day: date, tz_name: str,
                    min_attempts: int = 2) -> Report:
    """The report of `compound` (its `gates`) for the local `day` in `tz_name`."""
    from zoneinfo import ZoneInfo

    if not 1 <= min_attempts <= 1000:
        raise InputError(f"--min-attempts: between 1 and 1000, got {min_attempts}")
    tz = ZoneInfo(tz_name)
    start, end = day_bounds(day, tz)
    return build_report(read_records(fetch, gates, start, end), compound=compound, day=day, tz=tz,
                        tz_name=tz_name, min_attempts=min_attempts)
