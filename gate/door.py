"""The door and lock state machine: pure, driven by events stamped with monotonic times.

locked → released (grant, for unlock_seconds) → door open → door closed → locked again.
A door that opens with no grant, no exit request and no fire release is a forced opening.
"""
from __future__ import annotations

from dataclasses import dataclass

from .actions import Action, DriveLock, Record, Signal


@dataclass(frozen=True)
class DoorSettings:
    unlock_seconds: float = 5.0
    exit_unlock_seconds: float = 5.0
    held_open_seconds: float = 30.0
    prealarm_seconds: float = 10.0
    debounce_seconds: float = 0.15


class DoorStateMachine:
    """Lock and door state. Every method returns the actions to perform, Records first."""

    def __init__(self, settings: DoorSettings, *, door_open: bool = False):
        self.settings = settings
        self.released = False
        self.door_open = door_open
        self.grant_until: float | None = None
        self.grant_kind: str | None = None
        self.opened_legitimately = False
        self.door_used = False

    # --- queries -------------------------------------------------------------------------------
    @property
    def lock_state(self) -> str:
        return "unlocked" if self.released else "locked"

    @property
    def door_state(self) -> str:
        return "open" if self.door_open else "closed"

    def next_deadline(self) -> float | None:
        return self.grant_until

    # --- inputs --------------------------------------------------------------------------------
    def grant(self, kind: str, now: float, seconds: float | None = None) -> list[Action]:
        """Release the lock for a grant (card, exit, override, remote)."""
        duration = seconds if seconds is not None else (
            self.settings.exit_unlock_seconds if kind == "exit" else self.settings.unlock_seconds
        )
        self.grant_until = now + duration
        self.grant_kind = kind
        self.door_used = False
        if self.released:
            return []
        self.released = True
        return [DriveLock(True)]

    def door_changed(self, is_open: bool, now: float) -> list[Action]:
        if is_open == self.door_open:
            return []
        self.door_open = is_open
        if is_open:
            legitimate = self.grant_until is not None and now < self.grant_until
            self.opened_legitimately = legitimate
            self.door_used = True
            actions: list[Action] = [Record("door_opened", {"authorised": legitimate})]
            if not legitimate:
                actions.insert(0, Record("forced_open", {}))
                actions.append(Signal("alarm"))
            return actions
        actions = [Record("door_closed", {})]
        if self.released and self.grant_until is not None:
            # Relock as soon as the door closes after a legitimate opening.
            actions += self._relock("door_closed")
        return actions

    def tick(self, now: float) -> list[Action]:
        if self.grant_until is not None and now >= self.grant_until:
            if not self.door_used:
                return [Record("grant_unused", {"grant": self.grant_kind})] + self._relock("timeout")
            return self._relock("timeout")
        return []

    def _relock(self, why: str) -> list[Action]:
        self.grant_until = None
        self.grant_kind = None
        if not self.released:
            return []
        self.released = False
        return [Record("relocked", {"cause": why}), DriveLock(False)]
