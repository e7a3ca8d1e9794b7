"""The alarm lifecycle: raised → cleared (the condition is gone) → acknowledged (station or guard).

Every alarm record the core emits passes through `AlarmBook.raised`, which gives it an internal
`alarm_id`; the journal `seq` is only known after the commit, and `bind_seq` learns it then (the
station acknowledges by seq). The alarm record itself stays exactly as its flow built it.
An alarm stays in `active()` (and so in the status snapshot) until it is both cleared and
acknowledged, in either order. Each step is journaled: the alarm record itself, then
`alarm_cleared` and `alarm_acknowledged` records naming the alarm by `alarm`, `alarm_id` and,
once known, `alarm_seq`.

Conditional alarms (forced/held open, tamper, fire release, device fault) clear when their
condition ends; momentary alarms (fever, duress, keypad lockout...) are cleared when raised and
only wait for an acknowledgement.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from gate.core.actions import Record
from gate.core.records import is_alarm

log = logging.getLogger("gate.alarms")

# Alarms that last while a condition lasts; the rest are momentary. Value: the field naming the
# condition's instance (e.g. which device), or "" when the gate has only one.
CONDITIONAL = {
    "forced_open": "",
    "held_open": "",
    "fire_release": "",
    "tamper": "device",
    "device_fault": "device",
    "door_contact_fault": "",
}


@dataclass(frozen=True)
class ClearAlarm:
    """Internal to the core: the condition behind a conditional alarm has ended."""

    type: str
    key: str = ""


@dataclass
class ActiveAlarm:
    alarm_id: str
    type: str
    key: str
    raised_at: float  # monotonic
    fields: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    cleared: bool = False
    acknowledged_by: str | None = None

    def ref(self) -> dict[str, Any]:
        """The fields naming this alarm in its lifecycle records."""
        ref: dict[str, Any] = {"alarm": self.type, "alarm_id": self.alarm_id}
        if self.seq is not None:
            ref["alarm_seq"] = self.seq
        key_field = CONDITIONAL.get(self.type)
        if key_field:
            ref[key_field] = self.key
        return ref

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "alarm_id": self.alarm_id,
            "seq": self.seq,
            "cleared": self.cleared,
            "acknowledged": self.acknowledged_by is not None,
            **({"acknowledged_by": self.acknowledged_by} if self.acknowledged_by else {}),
            **{k: v for k, v in self.fields.items() if k in ("device", "card", "reader", "guard")},
        }


MAX_ACTIVE = 50  # alarms listed in the status at most (see AlarmBook._bound)


class AlarmBook:
    """Active alarms of one gate, oldest first. Pure; single-threaded like the core."""

    def __init__(self):
        self._alarms: list[ActiveAlarm] = []

    # --- queries -------------------------------------------------------------------------------
    def active(self) -> list[ActiveAlarm]:
        return list(self._alarms)

    def snapshot(self) -> list[dict[str, Any]]:
        return [a.describe() for a in self._alarms]

    def is_raised(self, alarm_type: str, key: str = "") -> bool:
        """Is this condition's alarm raised and not yet cleared?"""
        return any(a.type == alarm_type and a.key == key and not a.cleared for a in self._alarms)

    # --- lifecycle -----------------------------------------------------------------------------
    def raised(self, record: Record, at: float) -> Record | None:
        """Register an alarm record; return it, or None when the same condition is already raised
        (a repeated edge must not raise a second alarm)."""
        if not is_alarm(record.type):
            return record
        key_field = CONDITIONAL.get(record.type)
        conditional = key_field is not None
        key = str(record.fields.get(key_field, "")) if key_field else ""
        if conditional and self.is_raised(record.type, key):
            return None
        alarm = ActiveAlarm(uuid.uuid4().hex[:16], record.type, key, at, dict(record.fields), cleared=not conditional)
        self._alarms.append(alarm)
        self._bound()
        return record

    def _bound(self) -> None:
        """Keep the list (and the retained status that carries it) bounded when nobody acknowledges:
        beyond MAX_ACTIVE, the oldest alarms whose condition is gone leave the list first. They stay
        in the journal and at the station; only a still-present condition is never dropped."""
        excess = len(self._alarms) - MAX_ACTIVE
        if excess <= 0:
            return
        drop = [a for a in self._alarms if a.cleared][:excess]
        self._alarms = [a for a in self._alarms if a not in drop]

    def clear(self, alarm_type: str, key: str = "") -> list[Record]:
        """The condition ended: journal `alarm_cleared` for each raised instance."""
        out: list[Record] = []
        for alarm in list(self._alarms):
            if alarm.type == alarm_type and alarm.key == key and not alarm.cleared:
                alarm.cleared = True
                out.append(Record("alarm_cleared", alarm.ref()))
                self._retire(alarm)
        return out

    def acknowledge(
        self,
        by: str,
        *,
        seq: int | None = None,
        alarm_type: str | None = None,
        alarm_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> list[Record]:
        """Acknowledge the matching unacknowledged alarms (all of them when no selector is given)."""
        out: list[Record] = []
        for alarm in list(self._alarms):
            if alarm.acknowledged_by is not None:
                continue
            if seq is not None and alarm.seq != seq:
                continue
            if alarm_type is not None and alarm.type != alarm_type:
                continue
            if alarm_id is not None and alarm.alarm_id != alarm_id:
                continue
            alarm.acknowledged_by = by
            out.append(Record("alarm_acknowledged", {**alarm.ref(), "by": by, **(extra or {})}))
            self._retire(alarm)
        if not out:
            log.info("acknowledgement by %s matched no active alarm (seq=%s type=%s id=%s)", by, seq, alarm_type, alarm_id)
        return out

    def bind_seq(self, record_type: str, fields: dict[str, Any], seq: int) -> None:
        """The journal committed an alarm record: remember its seq (for acknowledgement by seq).
        Records are committed in the order they were raised, so the oldest unbound alarm of that
        type with those fields is the one."""
        for alarm in self._alarms:
            if alarm.seq is None and alarm.type == record_type and alarm.fields == fields:
                alarm.seq = seq
                return

    def _retire(self, alarm: ActiveAlarm) -> None:
        if alarm.cleared and alarm.acknowledged_by is not None:
            self._alarms.remove(alarm)
