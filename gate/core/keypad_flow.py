"""Guard keypad at the gate: key presses from every keypad (OSDP, GPIO, simulated) → overrides,
lockdown changes, refusals and lockouts. The PIN grammar and lockout policy live in keypad_entry.

With an asynchronous entry (no `verify_pin`), a '#' yields a `VerifyPin(request_id)` action that the
core passes to the controller; the answer comes back through `verified`, which gives the actions the
inline check would have given."""
from __future__ import annotations

import logging

from gate.core.actions import Action, Grant, Record, SetLockdown, Signal, VerifyPin
from gate.core.keypad_entry import (DuressDuringLockout, EntryTimedOut, KeypadEntry, KeypadLockedOut, LockdownToggle,
                                    LockoutsRepeated, OverrideGranted, PinCheck, PinRejected)

log = logging.getLogger("gate.keypad")


class KeypadFlow:
    """Turns keypad outcomes into core actions. A duress PIN opens exactly like the guard's own PIN
    (same record, same signal) and adds a silent `duress` alarm for the station; during a lockout it
    opens nothing, like every entry then, and still raises the silent alarm (`during_lockout`)."""

    def __init__(self, entry: KeypadEntry):
        self.entry = entry
        self._check_source: tuple[int, str] | None = None  # (request id, keypad) of the check in flight

    def press(self, key: str, source: str, at: float) -> list[Action]:
        return self._actions(self.entry.press(key, at), source)

    def verified(self, request_id: int, result, at: float) -> list[Action]:
        """PIN check `request_id` answered (`result` as GuardStore.verify returns it). Its records
        name the keypad the '#' came from; keys typed meanwhile are attributed to it too."""
        source = self._source_of_check()  # before complete() ends the check
        return self._actions(self.entry.complete(request_id, result, at), source)

    def tick(self, at: float) -> list[Action]:
        source = self._source_of_check()  # a check may time out
        return self._actions(self.entry.tick(at), source)

    def next_deadline(self) -> float | None:
        return self.entry.next_deadline()

    def _source_of_check(self) -> str:
        """The keypad whose '#' started the check in flight ("keypad" when there is none)."""
        c = self._check_source
        return c[1] if c is not None and c[0] == self.entry.pending else "keypad"

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
            elif isinstance(o, LockoutsRepeated):
                out.append(Record("keypad_lockouts_repeated", {"lockouts": o.lockouts, "hours": 24, "source": source}))
            elif isinstance(o, DuressDuringLockout):
                # Silent: during a lockout every entry looks alike at the gate (no signal, no opening).
                out.append(Record("duress", {"guard": o.guard_id, "source": source, "during_lockout": True}))
            elif isinstance(o, PinCheck):
                self._check_source = (o.request_id, source)
                out.append(VerifyPin(o.request_id))
            elif isinstance(o, EntryTimedOut):
                log.info("keypad: partial entry timed out")
        return out
