"""Outputs of the domain core. The controller journals every Record before it performs any other action."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """A journal record to commit (and later publish): `type` plus its fields."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriveLock:
    """Release (True) or engage (False) the lock. The relay driver maps this onto the wiring.
    `kind` names the grant behind a release (card, exit, override, remote, fire)."""

    released: bool
    kind: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Signal:
    """Resident/guard feedback: granted, refused, retest, fever, prealarm, alarm, lockout, silence."""

    pattern: str


Action = Record | DriveLock | Signal


@dataclass(frozen=True)
class Grant:
    """Internal to the core: a flow (card, keypad, command) asks the door machine to release the lock.
    The core resolves it; it never reaches the controller."""

    kind: str  # card, exit, override, remote
    seconds: float | None = None


@dataclass(frozen=True)
class SetLockdown:
    """Internal to the core: a flow (keypad code, station command) switches lockdown on or off."""

    on: bool
    by: str


@dataclass(frozen=True)
class VerifyPin:
    """Passed through the core to the controller: start PIN check `request_id` off the main loop
    (the PIN stays in the keypad entry; the answer comes back as a PinVerified event)."""

    request_id: int
