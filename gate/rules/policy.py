"""The community rules' decision, as pure functions of the facts about one tap.

The engine gathers the facts (pass, household observation, last passage, outing count) through its
store ports; everything here is deterministic and needs no I/O. Order of checks, first match wins:

1. unknown card;
2. quarantine: an exit while the pass or its household is under observation (checked before the
   pass's own validity, so the committee hears of every attempt: `quarantine_exit` alarm);
3. pass validity: revoked, not yet valid, expired;
4. schedule: an entry outside the pass type's weekly windows (`outside_hours`); exits are never
   refused for the hour, so nobody is kept in;
5. anti-passback: entering while recorded inside, or leaving while recorded outside;
6. outing quota: an exit beyond the household's allowance in the current period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Callable

from gate.core.access import Decision, decide_pass
from gate.core.actions import Record
from gate.core.passes import Pass
from gate.core.timefmt import format_ts
from gate.rules.settings import RulesSettings

ENTRY, EXIT = "entry", "exit"


@dataclass(frozen=True)
class Presence:
    """A pass's last recorded passage: `state` is "in" after an entry, "out" after an exit."""

    state: str
    at: datetime
    outing: bool = False  # this exit started an outing (counted; the outing limit runs)
    overdue_raised: bool = False


@dataclass(frozen=True)
class Facts:
    """What the engine knows about one tap of a known card."""

    card_pass: Pass
    reader: str
    direction: str
    household_quarantine: datetime | None = None
    presence: Presence | None = None
    exits_since: Callable[[str, datetime], int] = lambda key, since: 0  # outings of a household since a time


def household_key(card_pass: Pass) -> str:
    """Whose quota an exit counts against: the household, or the pass alone when it has none."""
    return card_pass.household or f"card:{card_pass.card}"


def resolve_direction(role: str, explicit: str | None, presence: Presence | None, lives_inside: bool) -> str | None:
    """A fixed reader role wins; a two-way reader uses what the reader/keypad said, else the opposite
    of the last passage, else: people who live inside (outing types) leave, everyone else enters."""
    if role in (ENTRY, EXIT):
        return role
    if explicit in (ENTRY, EXIT):
        return explicit
    if presence is not None:
        return EXIT if presence.state == "in" else ENTRY
    return EXIT if lives_inside else ENTRY


def quarantine_end(card_pass: Pass, household_until: datetime | None, wall: datetime) -> datetime | None:
    """The later of the pass's and the household's observation ends, if still running at `wall`
    (an observation ending at 10:00 allows an exit at 10:00:00.000)."""
    ends = [t for t in (card_pass.quarantine_until, household_until) if t is not None and wall < t]
    return max(ends) if ends else None


def quota_window_start(wall: datetime, s: RulesSettings) -> datetime:
    """Outings at or after this moment count against the quota at `wall`.

    calendar: periods of `quota_period_days` whole local days (gate time zone), the first starting at
    local midnight of `quota_anchor`; rolling: the `quota_period_days` x 24 h just before `wall`
    (an outing exactly one period ago no longer counts).
    """
    if s.quota_window == "rolling":
        return wall - timedelta(seconds=s.quota_period_seconds) + timedelta(milliseconds=1)
    local_day = wall.astimezone(s.tz).date()
    index = (local_day - s.quota_anchor).days // s.quota_period_days
    first_day = s.quota_anchor + timedelta(days=index * s.quota_period_days)
    return datetime.combine(first_day, time(0), tzinfo=s.tz).astimezone(timezone.utc)


def evaluate(f: Facts, s: RulesSettings, wall: datetime) -> Decision:
    """Decide one tap of a known card (see the module docstring for the order)."""
    p = f.card_pass
    fields = {"direction": f.direction, "name": p.name, "household": p.household, "pass_type": p.pass_type}
    if f.direction == EXIT:
        until = quarantine_end(p, f.household_quarantine, wall)
        if until is not None:
            fields["quarantine_until"] = format_ts(until)
            alarm = Record("quarantine_exit", {"card": p.card, "reader": f.reader, **fields})
            return Decision(False, "quarantine", fields, (alarm,))
    validity = decide_pass(p, wall)
    if not validity.granted:
        return Decision(False, validity.reason, fields)
    if f.direction == ENTRY:
        schedule = s.schedule(p.pass_type)
        if schedule is not None and not schedule.allows(wall, s.tz):
            return Decision(False, "outside_hours", fields)
    records: tuple[Record, ...] = ()
    if s.anti_passback != "off" and f.presence is not None and f.direction in (ENTRY, EXIT):
        expected = "out" if f.direction == ENTRY else "in"
        if f.presence.state != expected:
            if s.anti_passback == "hard":
                return Decision(False, "anti_passback", {**fields, "last_passage": format_ts(f.presence.at)})
            records = (
                Record(
                    "anti_passback_violation",
                    {"card": p.card, "reader": f.reader, **fields, "last_passage": format_ts(f.presence.at)},
                ),
            )
    if f.direction == EXIT and s.exit_quota and p.pass_type in s.outing_types:
        used = f.exits_since(household_key(p), quota_window_start(wall, s))
        if used >= s.exit_quota:
            return Decision(False, "quota_exceeded", {**fields, "quota": s.exit_quota, "used": used})
    return Decision(True, None, fields, records)
