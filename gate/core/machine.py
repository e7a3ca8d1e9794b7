"""The domain core: events in, actions out. No I/O except read-only lookups behind the rules port.

The controller calls `handle(event, wall)` from one thread; `next_deadline()` tells it when to send a
Tick. Timers live on the monotonic times carried by the events, never on the wall clock.

Flows (cards here; keypad, screening and commands elsewhere) return records, signals and the
internal Grant/SetLockdown actions; `_resolve` applies the gate-wide policy to them:
- lockdown: only guard overrides, the exit button and the fire release open the door. The exit
  button keeps working because lockdown keeps people out, it must never trap anyone in;
- every alarm record enters the alarm lifecycle (gate.alarms) and gets an `alarm_id`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gate.core.access import AccessRules
from gate.core.actions import Action, DriveLock, Grant, Record, SetLockdown, Signal
from gate.core.alarms import AlarmBook, ClearAlarm
from gate.core.card_flow import CardFlow
from gate.core.keypad_flow import KeypadFlow
from gate.core.door import DoorSettings, DoorStateMachine
from gate.core.screening_flow import ScreeningGate
from gate.core.events import AlarmAcknowledged, CardPresented, DeviceHealth, DoorChanged, ExitPressed, FireChanged, KeyPressed, PinVerified, RemoteCommand, TamperChanged, TemperatureSample, Tick
from gate.core.records import is_alarm

log = logging.getLogger("gate.core")

# Grant kinds that still open the door in lockdown (see the module docstring).
LOCKDOWN_PASSES = frozenset({"override", "exit", "fire"})


@dataclass(frozen=True)
class CoreSettings:
    door: DoorSettings = field(default_factory=DoorSettings)
    screen_exits: bool = True  # screening.screen_exits: false = only entries are screened


class GateCore:
    """Decides access and supervises the door. Single-threaded: the controller serialises events."""

    def __init__(self, settings: CoreSettings, rules: AccessRules, *, door_open: bool = False,
                 screening: ScreeningGate | None = None, keypad: KeypadFlow | None = None):
        self.settings = settings
        self.cards = CardFlow(rules, screening, screen_exits=settings.screen_exits,
                              in_lockdown=lambda: self.lockdown)
        self.keypad = keypad
        self.door = DoorStateMachine(settings.door, door_open=door_open)
        self.alarms = AlarmBook()
        self.lockdown = False
        self.faulty_devices: dict[str, str] = {}
        self._last_at = float("-inf")

    # --- queries -------------------------------------------------------------------------------
    @property
    def fire(self) -> bool:
        return self.door.fire

    @property
    def mode(self) -> str:
        if self.door.fire:
            return "fire"
        return "lockdown" if self.lockdown else "normal"

    def snapshot(self) -> dict:
        return {
            "lock": self.door.lock_state,
            "door": self.door.door_state,
            "mode": self.mode,
            "faulty_devices": dict(self.faulty_devices),
            "active_alarms": self.alarms.snapshot(),
        }

    def next_deadline(self) -> float | None:
        keypad = self.keypad.next_deadline() if self.keypad else None
        deadlines = [d for d in (self.door.next_deadline(), self.cards.next_deadline(), keypad) if d is not None]
        return min(deadlines) if deadlines else None

    def restore_lockdown(self, since_seq: int) -> list[Action]:
        """At start: the journal's last `lockdown` record said on. A restart (watchdog, power cut)
        must not quietly end a lockdown the station or a guard ordered."""
        self.lockdown = True
        return [Record("lockdown_restored", {"since_seq": since_seq})]

    def committed(self, record) -> None:
        """Record listener: the journal committed `record` (has .type, .fields, .seq). Teaches the
        alarm book the seq of each alarm, so the station can acknowledge it by seq."""
        if is_alarm(record.type):
            self.alarms.bind_seq(record.type, dict(record.fields), record.seq)

    # --- events --------------------------------------------------------------------------------
    def handle(self, event, wall: datetime) -> list[Action]:
        # Events are stamped in several threads before they are queued: never let time run back.
        at = max(float(event.at), self._last_at)
        self._last_at = at
        due = self.door.tick(at)  # door timers due before this event happened
        return self._resolve(due + self._dispatch(event, wall, at), at)

    def _dispatch(self, event, wall: datetime, at: float) -> list[Any]:
        if isinstance(event, CardPresented):
            return self.cards.present(event, wall, lockdown=self.lockdown)
        if isinstance(event, DoorChanged):
            return self.door.door_changed(event.open, at)
        if isinstance(event, ExitPressed):
            return [Record("exit_request", {}), Grant("exit")]
        if isinstance(event, TemperatureSample):
            return self.cards.temperature(event.object_c, event.ambient_c, wall, at)
        if isinstance(event, DeviceHealth):
            return self._health(event, wall, at)
        if isinstance(event, RemoteCommand):
            return self._command(event)
        if isinstance(event, FireChanged):
            return self.door.fire_changed(event.active, at)
        if isinstance(event, TamperChanged):
            if event.active:
                return [Record("tamper", {"device": event.device}), Signal("alarm")]
            return [ClearAlarm("tamper", event.device)]
        if isinstance(event, AlarmAcknowledged):
            extra = {"guard": event.guard} if event.guard else {}
            return self._acknowledge(event.by, event.seq, event.type, event.alarm_id, extra)
        if isinstance(event, KeyPressed):
            return self.keypad.press(event.key, event.source, at) if self.keypad else []
        if isinstance(event, PinVerified):
            return self.keypad.verified(event.request_id, event.result, at) if self.keypad else []
        if isinstance(event, Tick):
            return self.door.tick(at) + self.cards.tick(wall, at) + (self.keypad.tick(at) if self.keypad else [])
        raise TypeError(f"unknown event {event!r}")

    def _resolve(self, actions: list[Any], at: float) -> list[Action]:
        """Apply gate policy to the flows' internal actions; register alarms; Records first."""
        out: list[Action] = []
        for a in actions:
            if isinstance(a, Grant):
                out += self._grant(a, at)
            elif isinstance(a, SetLockdown):
                out += self._set_lockdown(a)
            elif isinstance(a, ClearAlarm):
                out += self.alarms.clear(a.type, a.key)
            elif isinstance(a, Record):
                stamped = self.alarms.raised(a, at)
                if stamped is not None:
                    out.append(stamped)
            else:
                out.append(a)  # DriveLock, Signal, and VerifyPin for the controller's PIN worker
        # Records first: the controller commits them before it moves anything.
        return [a for a in out if isinstance(a, Record)] + [a for a in out if not isinstance(a, Record)]

    def _grant(self, grant: Grant, at: float) -> list[Action]:
        if self.lockdown and grant.kind not in LOCKDOWN_PASSES and not self.door.fire:
            return [Record("grant_refused", {"grant": grant.kind, "reason": "lockdown"}), Signal("refused")]
        return [DriveLock(True, grant.kind) if isinstance(a, DriveLock) and a.released else a
                for a in self.door.grant(grant.kind, at, grant.seconds)]

    def _set_lockdown(self, change: SetLockdown) -> list[Action]:
        if change.on == self.lockdown:
            return []
        self.lockdown = change.on
        out: list[Action] = [Record("lockdown", {"on": change.on, "by": change.by})]
        if change.on:
            # A card or remote grant still running ends now; overrides, exits and fire keep theirs.
            out += self.door.revoke_grant("lockdown", keep_kinds=LOCKDOWN_PASSES)
        return out

    def _acknowledge(self, by: str, seq, alarm_type, alarm_id, extra: dict) -> list[Action]:
        records = self.alarms.acknowledge(by, seq=seq, alarm_type=alarm_type, alarm_id=alarm_id, extra=extra)
        # Silence the local alarm only for alarms that sounded locally: a duress alarm never did,
        # and a change at the gate when the station acknowledges it would betray the guard.
        audible = [r for r in records if r.fields.get("alarm") != "duress"]
        return [*records, Signal("silence")] if audible else records

    def _health(self, ev: DeviceHealth, wall: datetime, at: float) -> list[Any]:
        screening: list[Action] = []
        if not ev.ok and ev.device == "thermometer":
            # Never let a faulty sensor pass for a normal temperature (every time, not just the first).
            screening = self.cards.thermometer_fault(ev.detail, wall, at)
        if not ev.ok:
            if ev.device in self.faulty_devices:
                return screening
            self.faulty_devices[ev.device] = ev.detail
            return [Record("device_fault", {"device": ev.device, "detail": ev.detail}), *screening]
        if self.faulty_devices.pop(ev.device, None) is None:
            return []
        return [Record("device_recovered", {"device": ev.device}), ClearAlarm("device_fault", ev.device)]

    def _command(self, ev: RemoteCommand) -> list[Any]:
        if ev.action == "unlock":
            seconds = ev.args.get("seconds")
            # Journaled here, in the same commit that precedes the relay: the station's own
            # `command` record is written by the uplink thread and may come later.
            record = Record("remote_unlock", {"cmd_id": ev.cmd_id, "seconds": seconds, "by": "station"})
            return [record, Grant("remote", float(seconds) if seconds else None)]
        if ev.action == "lockdown":
            return [SetLockdown(bool(ev.args.get("on")), "station")]
        if ev.action == "ack":
            return self._station_ack(ev)
        return []

    def _station_ack(self, ev: RemoteCommand) -> list[Action]:
        """`ack` with `seq` (the alarm record's seq), `type` or `alarm_id`; `all: true` for every
        alarm. Without a selector nothing is acknowledged: a malformed command must not ack all."""
        args = ev.args
        try:
            seq = int(args["seq"]) if args.get("seq") is not None else None
        except (TypeError, ValueError):
            log.warning("ack command %s: seq must be an integer, got %r", ev.cmd_id, args.get("seq"))
            return []
        alarm_type = args.get("type")
        alarm_id = args.get("alarm_id")
        if seq is None and alarm_type is None and alarm_id is None and args.get("all") is not True:
            log.warning("ack command %s names no alarm (seq, type, alarm_id or all)", ev.cmd_id)
            return []
        extra = {k: v for k, v in (("officer", args.get("by")), ("cmd_id", ev.cmd_id)) if v}
        return self._acknowledge("station", seq, alarm_type, alarm_id, extra)
