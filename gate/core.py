"""The domain core: events in, actions out. No I/O except read-only lookups behind the rules port.

The controller calls `handle(event, wall)` from one thread; `next_deadline()` tells it when to send a
Tick. Timers live on the monotonic times carried by the events, never on the wall clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .access import AccessRules
from .actions import Action, Grant, Record, SetLockdown
from .card_flow import CardFlow
from .door import DoorSettings, DoorStateMachine
from .events import (
    CardPresented,
    DeviceHealth,
    DoorChanged,
    ExitPressed,
    FireChanged,
    RemoteCommand,
    TamperChanged,
    TemperatureSample,
    Tick,
)
from .screening_flow import ScreeningGate


@dataclass(frozen=True)
class CoreSettings:
    door: DoorSettings = DoorSettings()


class GateCore:
    """Decides access and supervises the door. Single-threaded: the controller serialises events."""

    def __init__(self, settings: CoreSettings, rules: AccessRules, *, door_open: bool = False,
                 screening: ScreeningGate | None = None):
        self.settings = settings
        self.cards = CardFlow(rules, screening)
        self.door = DoorStateMachine(settings.door, door_open=door_open)
        self.lockdown = False
        self.fire = False
        self.faulty_devices: dict[str, str] = {}

    # --- queries -------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        if self.fire:
            return "fire"
        return "lockdown" if self.lockdown else "normal"

    def snapshot(self) -> dict:
        return {
            "lock": self.door.lock_state,
            "door": self.door.door_state,
            "mode": self.mode,
            "faulty_devices": dict(self.faulty_devices),
        }

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.door.next_deadline(), self.cards.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    # --- events --------------------------------------------------------------------------------
    def handle(self, event, wall: datetime) -> list[Action]:
        return self._resolve(self._dispatch(event, wall), event)

    def _dispatch(self, event, wall: datetime) -> list[Action]:
        if isinstance(event, CardPresented):
            return self.cards.present(event, wall, lockdown=self.lockdown)
        if isinstance(event, DoorChanged):
            return self.door.door_changed(event.open, event.at)
        if isinstance(event, ExitPressed):
            return [Record("exit_request", {}), Grant("exit")]
        if isinstance(event, DeviceHealth):
            if event.device == "thermometer" and not event.ok:
                return self._health(event) + self.cards.thermometer_fault(event.detail, wall, event.at)
            return self._health(event)
        if isinstance(event, TemperatureSample):
            return self.cards.temperature(event.object_c, event.ambient_c, wall, event.at)
        if isinstance(event, RemoteCommand):
            return self._command(event)
        if isinstance(event, FireChanged):
            return self._fire(event)
        if isinstance(event, TamperChanged):
            if event.active:
                return [Record("tamper", {"device": event.device})]
            return [Record("tamper_cleared", {"device": event.device})]
        if isinstance(event, Tick):
            return self.door.tick(event.at) + self.cards.tick(wall, event.at)
        raise TypeError(f"unknown event {event!r}")

    def _resolve(self, actions: list[Action], event) -> list[Action]:
        """Turn the flows' internal Grant/SetLockdown into door actions and records."""
        out: list[Action] = []
        for a in actions:
            if isinstance(a, Grant):
                out += self.door.grant(a.kind, event.at, a.seconds)
            elif isinstance(a, SetLockdown):
                if a.on != self.lockdown:
                    self.lockdown = a.on
                    out.append(Record("lockdown", {"on": a.on, "by": a.by}))
            else:
                out.append(a)
        # Records first: the controller commits them before it moves anything.
        return [a for a in out if isinstance(a, Record)] + [a for a in out if not isinstance(a, Record)]

    def _health(self, ev: DeviceHealth) -> list[Action]:
        if not ev.ok:
            if ev.device in self.faulty_devices:
                return []
            self.faulty_devices[ev.device] = ev.detail
            return [Record("device_fault", {"device": ev.device, "detail": ev.detail})]
        if self.faulty_devices.pop(ev.device, None) is None:
            return []
        return [Record("device_recovered", {"device": ev.device})]

    def _command(self, ev: RemoteCommand) -> list[Action]:
        if ev.action == "unlock":
            seconds = ev.args.get("seconds")
            return [Grant("remote", float(seconds) if seconds else None)]
        if ev.action == "lockdown":
            return [SetLockdown(bool(ev.args.get("on")), "station")]
        return []

    def _fire(self, ev: FireChanged) -> list[Action]:
        self.fire = ev.active
        if ev.active:
            return [Record("fire_release", {}), Grant("fire", 10**9)]
        return [Record("fire_release_cleared", {})] + self.door.tick(float("inf"))
