"""Inputs to the domain core: frozen dataclasses, each stamped with the monotonic time it happened."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CardPresented:
    """A card entered a reader's field (one event per presence)."""

    card: str  # uppercase hex, no separators
    at: float
    reader: str = "main"
    credential_ok: bool | None = None  # None: no credential check for this reader/site
    magic: bool = False  # answered the Gen1a backdoor probe
    direction: str | None = None  # "entry"/"exit" when the reader or keypad chose it; None: the rules infer it


@dataclass(frozen=True)
class DoorChanged:
    """The raw door contact changed (before debounce)."""

    open: bool
    at: float


@dataclass(frozen=True)
class ExitPressed:
    at: float


@dataclass(frozen=True)
class FireChanged:
    active: bool
    at: float


@dataclass(frozen=True)
class TamperChanged:
    active: bool
    at: float
    device: str = "enclosure"


@dataclass(frozen=True)
class KeyPressed:
    key: str
    at: float
    source: str = "keypad"


@dataclass(frozen=True)
class DeviceHealth:
    """A device went faulty (ok=False, with detail) or recovered (ok=True)."""

    device: str
    ok: bool
    at: float
    detail: str = ""


@dataclass(frozen=True)
class TemperatureSample:
    object_c: float
    ambient_c: float
    at: float


@dataclass(frozen=True)
class RemoteCommand:
    """A verified station command (signature, freshness and replay already checked)."""

    action: str
    args: dict[str, Any] = field(default_factory=dict)
    cmd_id: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class Tick:
    """Nothing happened; timers may be due."""

    at: float


@dataclass(frozen=True)
class AlarmAcknowledged:
    """A guard acknowledged alarms at the gate. With no selector, every unacknowledged alarm."""

    at: float
    by: str = "guard"
    guard: str = ""
    seq: int | None = None
    type: str | None = None
    alarm_id: str | None = None


@dataclass(frozen=True)
class PinVerified:
    """The PIN check `request_id` (a keypad '#') finished off the main loop. `result` is what
    GuardStore.verify returned: (guard_id, duress), or None for no match. Never carries the PIN."""

    request_id: int
    result: tuple[str, bool] | None
    at: float
