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
from a typed card number: PINs are checked only by the injected `verify_pin`, or by the caller.

Asynchronous checks (the daemon: a PIN check takes up to ~0.6 s on a Pi and must not hold up the
fire release): built without `verify_pin`, a '#' that needs a check returns `PinCheck(request_id)`.
The typed PIN stays inside the entry; the worker fetches it once with `pin_for(request_id)` and the
result goes back through `complete(request_id, result, mono)`, which yields exactly the outcomes the
inline check would have given, with the attempt accounted at the time of the '#'. Keys pressed while
a check is pending are queued (bounded) and replayed after it, so a guard typing ahead loses
nothing; '*' is queued too and does not cancel the submitted check (cancelling would let wrong
guesses go uncounted). A check still unanswered `entry_timeout_s` after its '#' counts as a failed
attempt and drops the queued keys; its late result, like any unknown request id, completes to
nothing.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
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


@dataclass(frozen=True)
class PinCheck:
    """A PIN awaits verification: fetch it with `pin_for(request_id)`, answer with `complete`."""

    request_id: int


KeypadOutcome = Union[OverrideGranted, PinRejected, KeypadLockedOut, LockdownToggle,
                      EntryTimedOut, EntryCleared, PinCheck]


@dataclass
class _Pending:
    """A PIN check in flight. Its repr never shows the PIN or the typed-ahead keys."""

    request_id: int
    pin: str | None = field(repr=False)  # handed over once by pin_for, then forgotten
    command: bool | None  # None: an override; True/False: lockdown on/off
    at: float  # the '#': attempts are accounted at this time
    queued: list[tuple[str, float]] = field(repr=False)


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

    def __init__(self, settings: KeypadSettings, *, verify_pin: VerifyPin | None = None):
        self.settings = settings
        self._verify = verify_pin  # None: checks are asynchronous (PinCheck / complete)
        self._ids = itertools.count(1)
        self._pending: _Pending | None = None
        # Keys typed ahead during a check: enough for a full lockout's worth of entries, no more.
        self._max_queued = (settings.max_pin_length + 3) * settings.max_attempts
        self._buf: list[str] = []
        self._overflow = False
        self._last_key: float | None = None
        self._failures = 0
        self._lockouts = 0
        self._last_failure: float | None = None
        self._locked_until: float | None = None

    def press(self, key: str, mono: float) -> list[KeypadOutcome]:
        """One key ('0'-'9', '*', '#'); anything else is ignored. While a PIN check is pending the
        key is queued and replayed by `complete`."""
        out = self.tick(mono)
        if self.is_locked_out(mono):
            return out  # keys typed during a lockout are not even buffered
        if self._pending is not None:
            if key in _DIGITS or key in ("*", "#"):
                if len(self._pending.queued) < self._max_queued:
                    self._pending.queued.append((key, mono))
            return out
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
        """Time passes: a stale partial entry times out; so does an unanswered PIN check, which
        counts as a failed attempt (fail closed, and never a way round the lockout)."""
        deadline = self.next_deadline()
        if deadline is None or mono < deadline:
            return []
        if self._pending is not None:
            self._pending = None  # its PIN and typed-ahead keys go with it
            return self._fail(mono)
        self._reset_entry()
        return [EntryTimedOut()]

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do (a partial entry's or a PIN check's timeout), if ever."""
        if self._pending is not None:
            return self._pending.at + self.settings.entry_timeout_s
        if self._last_key is None:
            return None
        return self._last_key + self.settings.entry_timeout_s

    def pin_for(self, request_id: int) -> str | None:
        """The PIN of the pending check `request_id`, handed over once; None if it is not pending
        or was already handed over."""
        p = self._pending
        if p is None or p.request_id != request_id:
            return None
        pin, p.pin = p.pin, None
        return pin

    def complete(self, request_id: int, result: "tuple[str, bool] | None",
                 mono: float) -> list[KeypadOutcome]:
        """The answer to check `request_id` (what `verify_pin` returns): the outcomes of the '#',
        then those of the keys typed while it was pending. A stale id completes to nothing."""
        out = self.tick(mono)
        p = self._pending
        if p is None or p.request_id != request_id:
            return out
        self._pending = None
        out += self._verdict(result, p.command, p.at)
        for key, at in p.queued:
            out += self.press(key, at)
        return out

    @property
    def pending(self) -> int | None:
        """The request id of the PIN check in flight, if any."""
        return self._pending.request_id if self._pending is not None else None

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
        if overflow or not s.min_pin_length <= len(entry) <= s.max_pin_length:
            return self._fail(mono)  # out-of-range lengths never reach the (slow) verifier
        if self._verify is not None:
            return self._verdict(self._verify(entry), command, mono)
        self._pending = _Pending(next(self._ids), entry, command, mono, [])
        return [PinCheck(self._pending.request_id)]

    def _verdict(self, match, command: bool | None, mono: float) -> list[KeypadOutcome]:
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
