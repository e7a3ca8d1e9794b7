"""Guard keypad at the gate: key presses from every keypad (OSDP, GPIO, simulated) → overrides,
lockdown changes, refusals and lockouts. The PIN grammar and lockout policy live in keypad_entry."""
from __future__ import annotations

import logging

from .actions import Action, Grant, Record, SetLockdown, Signal
from .keypad_entry import (
    EntryTimedOut,
    KeypadEntry,
    KeypadLockedOut,
    LockdownToggle,
    OverrideGranted,
    PinRejected,
)

log = logging.getLogger("gate.keypad")


class KeypadFlow:
    """Turns keypad outcomes into core actions. A duress PIN opens exactly like the guard's own PIN
    (same record, same signal) and adds a silent `duress` alarm for the station."""

    def __init__(self, entry: KeypadEntry):
        self.entry = entry

    def press(self, key: str, source: str, at: float) -> list[Action]:
        return self._actions(self.entry.press(key, at), source)

    def tick(self, at: float) -> list[Action]:
        return self._actions(self.entry.tick(at), "keypad")

    def next_deadline(self) -> float | None:
        return self.entry.next_deadline()

    def _actions(self, outcomes, source: str) -> list[Action]:
        out: list[Action] = []
        for o in outcomes:
            if isinstance(o, OverrideGranted):
                out += [Record("override", {"guard": o.guard_id, "source": source}), Grant("override"),
                        Signal("granted")]
                if o.duress:
                    out.insert(0, Record("duress", {"guard": o.guard_id, "source": source}))
            elif isinstance(o, LockdownToggle):
                if o.duress:
                    out.append(Record("duress", {"guard": o.guard_id, "source": source}))
                if o.on is not None:
                    out += [SetLockdown(o.on, f"guard:{o.guard_id}"), Signal("granted")]
            elif isinstance(o, PinRejected):
                out += [Record("override_refused", {"attempts": o.attempts, "source": source}), Signal("refused")]
            elif isinstance(o, KeypadLockedOut):
                out += [Record("keypad_lockout", {"seconds": o.seconds, "source": source}), Signal("lockout")]
            elif isinstance(o, EntryTimedOut):
                log.info("keypad: partial entry timed out")
        return out
