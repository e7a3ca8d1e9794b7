"""The alarm board's view model, shared by the web console and `watch`: which alarms come first, what
state each is in, how late it arrived, how its time reads in the station's zone. No I/O here.

Order: open alarms before closed ones; among open ones by PRIORITY (someone in danger or forcing their
way first), then by the time it happened, oldest first (the alarm waiting longest is served first, as
in an alarm receiving centre's queue); closed ones newest first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from gate.core.records import ALARM_TYPES as CORE_ALARM_TYPES
from gate.core.timefmt import parse_ts

# Interface §4 alarm types, most urgent first; an unknown type (a newer gate) sorts after these.
PRIORITY = ("forced_open", "duress", "fire_release", "tamper", "quarantine_exit", "fever", "held_open",
            "keypad_lockout", "device_fault", "door_contact_fault",
            "gate_silent",  # the station's own: the gate cannot report, so a forced door would go unseen
            "forged_credential", "unknown_card_repeated",
            "keypad_lockouts_repeated", "overdue", "storage_low")
ALARM_TYPES = CORE_ALARM_TYPES | frozenset(PRIORITY)
# Shown loudest: someone may be in danger or forcing their way.
URGENT_TYPES = frozenset({"forced_open", "duress", "tamper", "fire_release", "quarantine_exit"})
# Fields of a record that are not "details" to show beside it.
ENVELOPE = frozenset({"gate", "seq", "id", "ts", "type", "historical", "mac"})  # mac: checked, not shown
# A record received this much later than it happened counts as delayed (clock skew and transit below).
DELAY_THRESHOLD_S = 5.0

NEW, CLAIMED, ACK_SENT, UNCONFIRMED, CLOSED = "new", "claimed", "ack_sent", "unconfirmed", "closed"


def priority(alarm_type: str) -> int:
    """0 for the most urgent type; len(PRIORITY) for any type not listed."""
    try:
        return PRIORITY.index(alarm_type)
    except ValueError:
        return len(PRIORITY)


def priority_sql(column: str = "type") -> str:
    """The same order as `priority`, as an SQL CASE expression over `column`."""
    cases = " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(PRIORITY))
    return f"(CASE {column} {cases} ELSE {len(PRIORITY)} END)"


def delay_seconds(ts: str, received_at: str) -> float:
    """How much later the station received a record than the gate made it (never negative)."""
    try:
        return max(0.0, (parse_ts(received_at) - parse_ts(ts)).total_seconds())
    except ValueError:
        return 0.0


def local_time(ts: str, zone: str, *, now: datetime | None = None) -> str:
    """`11:13:39` in the station's zone when it is today there, else `2026-12-01 11:13:39`."""
    try:
        moment = parse_ts(ts)
    except ValueError:
        return ts
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    today = (now or datetime.now(timezone.utc)).astimezone(tz).date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M:%S")


def details(record: dict[str, Any]) -> dict[str, Any]:
    """The record's own fields beyond the envelope (temperature_c, guard, device, reason, ...)."""
    return {k: v for k, v in record.items() if k not in ENVELOPE}


@dataclass(frozen=True)
class AlarmRow:
    """One alarm as the board shows it. `state` is NEW until an officer claims it, CLAIMED, ACK_SENT
    (the officer acknowledged, the gate has not answered yet), UNCONFIRMED (the gate did not confirm in
    time, or refused), CLOSED (the gate's `alarm_acknowledged` record arrived)."""

    gate: str
    seq: int
    type: str
    ts: str
    received_at: str
    historical: bool
    record: dict[str, Any]
    gate_name: str = ""
    compound: str = ""
    claimed_by: str | None = None
    claimed_at: str | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    acked_at: str | None = None
    ack_error: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    escalated: bool = False
    verified: bool = True  # False: the record had no valid MAC by the gate's key
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.closed_at:
            return CLOSED
        if self.acked_by:
            return UNCONFIRMED if self.ack_error else ACK_SENT
        return CLAIMED if self.claimed_by else NEW

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def delayed_s(self) -> float:
        """Seconds between the alarm and its arrival when above DELAY_THRESHOLD_S, else 0."""
        delay = delay_seconds(self.ts, self.received_at)
        return round(delay) if delay >= DELAY_THRESHOLD_S else 0

    @property
    def urgent(self) -> bool:
        return self.type in URGENT_TYPES

    def sort_key(self) -> tuple:
        if self.is_open:
            return (0, priority(self.type), self.ts)
        try:
            return (1, -parse_ts(self.ts).timestamp())  # newest first
        except ValueError:
            return (1, 0.0)

    def to_json(self, zone: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The API's alarm item (interface §6.1 fields first)."""
        return {
            "gate": self.gate, "seq": self.seq, "type": self.type, "ts": self.ts,
            "acknowledged": self.closed_at is not None,
            "state": self.state, "gate_name": self.gate_name or self.gate, "compound": self.compound,
            "priority": priority(self.type), "urgent": self.urgent, "historical": self.historical,
            "received_at": self.received_at, "delayed_s": self.delayed_s,
            "time_local": local_time(self.ts, zone, now=now),
            "claimed_by": self.claimed_by, "claimed_at": self.claimed_at,
            "acked_by": self.acked_by, "ack_note": self.ack_note, "acked_at": self.acked_at,
            "ack_error": self.ack_error, "closed_at": self.closed_at, "closed_by": self.closed_by,
            "escalated": self.escalated, "verified": self.verified, "details": details(self.record), "id": self.record.get("id"),
        }


def order(rows: list[AlarmRow]) -> list[AlarmRow]:
    """The board's order (see the module docstring)."""
    return sorted(rows, key=AlarmRow.sort_key)
