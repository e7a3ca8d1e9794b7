"""Setting and lifting home observation: the station's `quarantine` command and the CLI share this.

Command (interface §5 envelope, action "quarantine"), exactly one of `household` / `card`, and
exactly one of `until` (RFC 3339 / ISO 8601 date-time; the one date rule of
`gate.core.passes.DATE_RULE`: a bare date lasts through that day in gate.timezone, a naive
date-time is in gate.timezone), `days` (a number, counted from now) or `lift: true`:

    {"action": "quarantine", "household": "3-2-501", "until": "2026-12-13T10:00:00+08:00"}
    {"action": "quarantine", "card": "DEADBEEF", "days": 14}
    {"action": "quarantine", "household": "3-2-501", "lift": true}
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable

from gate.clock import Clock
from gate.core.errors import InputError
from gate.core.passes import parse_when
from gate.core.timefmt import format_ts
from gate.core.uid import normalize_uid
from gate.rules.households import check_household_id

MAX_DAYS = 366


def quarantine_end(until: Any, days: Any, lift: Any, now: datetime,
                   tz: tzinfo = timezone.utc) -> datetime | None:
    """The observation end from exactly one of until / days / lift (None means lift)."""
    given = [name for name, v in (("until", until), ("days", days), ("lift", lift)) if v is not None and v is not False]
    if len(given) != 1:
        raise InputError("until/days/lift: give exactly one of until (date-time), days (number) or lift (true)")
    if lift is not None and lift is not False:
        if lift is not True:
            raise InputError(f"lift: must be true, got {lift!r}")
        return None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 < days <= MAX_DAYS:
            raise InputError(f"days: must be a number of days between 0 and {MAX_DAYS}, got {days!r}")
        return now + timedelta(days=days)
    try:
        end = parse_when(until, tz, end=True) if isinstance(until, str) else None
    except ValueError as exc:
        raise InputError(f"until: {exc}") from None
    if end is None:
        raise InputError(f"until: must be an ISO 8601 date-time string, got {until!r}")
    if end > now + timedelta(days=MAX_DAYS):
        raise InputError(f"until: more than {MAX_DAYS} days ahead: {until!r}")
    return end


def handle_quarantine_command(cmd: dict, *, passes, households, now: datetime,
                              tz: tzinfo = timezone.utc) -> dict:
    """Apply one `quarantine` command. Raises InputError naming the bad field; returns the result."""
    if not isinstance(cmd, dict):
        raise InputError("quarantine: command must be a JSON object")
    household, card = cmd.get("household"), cmd.get("card")
    if (household is None) == (card is None):
        raise InputError("household/card: give exactly one of household or card")
    end = quarantine_end(cmd.get("until"), cmd.get("days"), cmd.get("lift"), now, tz)
    shown = format_ts(end) if end else None
    if household is not None:
        hid = check_household_id(household)
        households.set_quarantine(hid, end)
        return {"household": hid, "quarantine_until": shown}
    uid = normalize_uid(card) if isinstance(card, str) else None
    if uid is None:
        raise InputError(f"card: must be a hex UID string, got {card!r}")
    if not passes.set_quarantine(uid, end):
        raise InputError(f"card: no pass for card {uid}")
    return {"card": uid, "quarantine_until": shown}


def quarantine_handler(passes, households, clock: Clock,
                       tz: tzinfo = timezone.utc) -> Callable[[dict], dict]:
    """`handle_quarantine_command` bound to the stores, the wall clock and the gate's time zone,
    for `uplink.register_command`."""

    def handle(cmd: dict) -> dict:
        return handle_quarantine_command(cmd, passes=passes, households=households, now=clock.wall(), tz=tz)

    return handle
