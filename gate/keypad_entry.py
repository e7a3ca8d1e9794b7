"""Guard keypad entry: pure logic. Keys and monotonic times in, outcomes out.

Grammar (every key source alike: GPIO keypad, OSDP keypad, `gatectl sim keys`):

    PIN #            override: opens the gate as that guard (a duress PIN opens it too, and the
                     outcome says duress so the core can raise a silent alarm)
    # 1 PIN #        lockdown on       (a leading '#' starts a command; '1' = on)
    # 0 PIN #        lockdown off      ('0' = off)
    *                clears whatever was typed

A partial entry is dropped `entry_timeout_s` after its last key. Every '#' that does not verify
counts as a failed attempt; after `max_attempts` in a row the keypad ignores keys for
`lockout_s`, doubling at each further lockout (up to `lockout_max_s`). A correct PIN resets both;
so does `forgive_after_s` without any failure. There is deliberately no code that opens the gate
from a typed card number: PINs are checked only by the injected `verify_pin`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Union

VerifyPin = Callable[[str], "tuple[str, bool] | None"]


@dataclass(frozen=True)
class OverrideGranted:
    guard_id: str
    duress: bool


@dataclass(frozen=True)
class PinRejected:
    attempts: int  # failed attempts in a row, this one included


@dataclass(frozen=True)
class KeypadLockedOut:
    seconds: float


@dataclass(frozen=True)
class LockdownToggle:
    guard_id: str
    on: bool | None  # None would mean "toggle"; the grammar above always says which
    duress: bool = False


@dataclass(frozen=True)
class EntryTimedOut:
    pass


@dataclass(frozen=True)
class EntryCleared:
    pass


KeypadOutcome = Union[OverrideGranted, PinRejected, KeypadLockedOut, LockdownToggle,
                      EntryTimedOut, EntryCleared]


@dataclass(frozen=True)
class KeypadSettings:
    entry_timeout_s: float = 10.0
    min_pin_length: int = 4
    max_pin_length: int = 12
    max_attempts: int = 5
    lockout_s: float = 30.0
    lockout_max_s: float = 3600.0
    forgive_after_s: float = 3600.0

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"keypad.{f.name}: must be > 0, got {getattr(self, f.name)}")
        if self.max_pin_length < self.min_pin_length:
            raise ValueError(f"keypad.max_pin_length: must be >= min_pin_length "
                             f"({self.min_pin_length}), got {self.max_pin_length}")
        if self.lockout_max_s < self.lockout_s:
            raise ValueError(f"keypad.lockout_max_s: must be >= lockout_s ({self.lockout_s}), "
                             f"got {self.lockout_max_s}")


_DIGITS = frozenset("0123456789")


class KeypadEntry:
    """The state of one key stream (all keypads of a gate feed one)."""

    def __init__(self, settings: KeypadSettings, *, verify_pin: VerifyPin):
        self.settings = settings
        self._verify = verify_pin
        self._buf: list[str] = []
        self._overflow = False
        self._last_key: float | None = None
        self._failures = 0
        self._lockouts = 0
        self._last_failure: float | None = None
        self._locked_until: float | None = None

    def press(self, key: str, mono: float) -> list[KeypadOutcome]:
        """One key ('0'-'9', '*', '#'); anything else is ignored."""
        out = self.tick(mono)
        if self.is_locked_out(mono):
            return out  # keys typed during a lockout are not even buffered
        if key == "*":
            if self._buf:
                out.append(EntryCleared())
            self._reset_entry()
        elif key == "#":
            out.extend(self._hash(mono))
        elif key in _DIGITS:
            if len(self._buf) < self.settings.max_pin_length + 2:  # + the '#1' of a command
                self._buf.append(key)
            else:
                self._overflow = True  # rejected at '#': memory stays bounded
            self._last_key = mono
        return out

    def tick(self, mono: float) -> list[KeypadOutcome]:
        """Time passes: a stale partial entry times out."""
        deadline = self.next_deadline()
        if deadline is not None and mono >= deadline:
            self._reset_entry()
            return [EntryTimedOut()]
        return []

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do (the partial entry's timeout), if ever."""
        if self._last_key is None:
            return None
        return self._last_key + self.settings.entry_timeout_s

    def is_locked_out(self, mono: float) -> bool:
        return self._locked_until is not None and mono < self._locked_until

    @property
    def typed(self) -> int:
        """How many keys are buffered (for a display: never the keys themselves)."""
        return len(self._buf)

    # -- internals --

    def _hash(self, mono: float) -> list[KeypadOutcome]:
        if not self._buf and self._last_key is None:
            self._last_key = mono  # a leading '#': a command follows
            self._buf.append("#")
            return []
        entry, overflow = "".join(self._buf), self._overflow
        self._reset_entry()
        command = None
        if entry.startswith("#"):
            if len(entry) < 2 or entry[1] not in "01":
                return self._fail(mono)
            command, entry = entry[1] == "1", entry[2:]
        if not entry and command is None:
            return []  # a lone '#': nothing was typed, nothing to count
        s = self.settings
        match = None
        if not overflow and s.min_pin_length <= len(entry) <= s.max_pin_length:
            match = self._verify(entry)
        if match is None:
            return self._fail(mono)
        guard_id, duress = match
        self._failures = self._lockouts = 0
        if command is None:
            return [OverrideGranted(guard_id, bool(duress))]
        return [LockdownToggle(guard_id, command, bool(duress))]

    def _fail(self, mono: float) -> list[KeypadOutcome]:
        s = self.settings
        if self._last_failure is not None and mono - self._last_failure >= s.forgive_after_s:
            self._failures = self._lockouts = 0
        self._last_failure = mono
        self._failures += 1
        out: list[KeypadOutcome] = [PinRejected(self._failures)]
        if self._failures >= s.max_attempts:
            seconds = min(s.lockout_s * 2 ** self._lockouts, s.lockout_max_s)
            self._lockouts += 1
            self._failures = 0
            self._locked_until = mono + seconds
            out.append(KeypadLockedOut(seconds))
        return out

    def _reset_entry(self) -> None:
        self._buf.clear()
        self._overflow = False
        self._last_key = None
