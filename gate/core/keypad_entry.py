"""Guard keypad entry: pure logic. Keys and monotonic times in, outcomes out.

Grammar (every key source alike: GPIO keypad, OSDP keypad, `gatectl sim keys`):

    PIN #            override: opens the gate as that guard (a duress PIN opens it too, and the
                     outcome says duress so the core can raise a silent alarm)
    # 1 PIN #        lockdown on       (a leading '#' starts a command; '1' = on)
    # 0 PIN #        lockdown off      ('0' = off)
    *                clears whatever was typed

A partial entry is dropped `entry_timeout_s` after its last key. Every '#' that does not verify
counts as a failed attempt; after `max_attempts` in a row the keypad locks out for `lockout_s`,
doubling at each further lockout (up to `lockout_max_s`, where it stays). A correct PIN resets both;
so does `forgive_after_s` without any failure *counted from the end of the last lockout* (a lockout
is no time "without failures": forgiveness measured from the last failure used to reset the ladder
at its own cap). The `lockout_alarm_per_day`-th lockout within 24 h (and every further multiple)
yields `LockoutsRepeated`. The lockout state is exported and restored (`lockout_state`/`restore`)
so the runtime can persist it across restarts; the core itself never touches storage.

During a lockout nothing opens and nothing is counted, but an entry is still checked for one thing:
a duress PIN (with or without a lockdown command) yields `DuressDuringLockout`, so a guard forced to
type after an assailant's wrong guesses can still raise the silent alarm. Every entry during a
lockout looks the same at the gate (no signal), so this is no oracle.
There is deliberately no code that opens the gate from a typed card number: PINs are checked only
by the injected `verify_pin`, or by the caller.

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
class DuressDuringLockout:
    """A duress PIN typed while the keypad was locked out: a silent alarm, no opening."""

    guard_id: str


@dataclass(frozen=True)
class LockoutsRepeated:
    lockouts: int  # lockouts within the last 24 h, this one included


@dataclass(frozen=True)
class LockoutState:
    """What survives a restart, in durations (monotonic times mean nothing in another process):
    `locked_for_s` left of the current lockout, `quiet_for_s` since the last failure or lockout end
    (negative while locked out),
    `lockout_ages_s` of the lockouts within the last 24 h."""

    failures: int = 0
    lockouts: int = 0
    locked_for_s: float = 0.0
    quiet_for_s: float | None = None
    lockout_ages_s: tuple[float, ...] = ()


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
                      EntryTimedOut, EntryCleared, PinCheck, DuressDuringLockout, LockoutsRepeated]

DAY_S = 24 * 3600.0


@dataclass
class _Pending:
    """A PIN check in flight. Its repr never shows the PIN or the typed-ahead keys."""

    request_id: int
    pin: str | None = field(repr=False)  # handed over once by pin_for, then forgotten
    command: bool | None  # None: an override; True/False: lockdown on/off
    at: float  # the '#': attempts are accounted at this time
    queued: list[tuple[str, float]] = field(repr=False)
    during_lockout: bool = False  # only a duress match counts; nothing is accounted


@dataclass(frozen=True)
class KeypadSettings:
    entry_timeout_s: float = 10.0
    min_pin_length: int = 4
    max_pin_length: int = 12
    max_attempts: int = 5
    lockout_s: float = 30.0
    lockout_max_s: float = 3600.0
    forgive_after_s: float = 3600.0
    lockout_alarm_per_day: int = 3  # 0: never

    def __post_init__(self):
        for f in fields(self):
            if f.name == "lockout_alarm_per_day":
                if self.lockout_alarm_per_day < 0:
                    raise ValueError(f"keypad.lockout_alarm_per_day: must be >= 0, got {self.lockout_alarm_per_day}")
            elif getattr(self, f.name) <= 0:
                raise ValueError(f"keypad.{f.name}: must be > 0, got {getattr(self, f.name)}")
        if self.max_pin_length < self.min_pin_length:
            raise ValueError(f"keypad.max_pin_length: must be >= min_pin_length "
                             f"({self.min_pin_length}), got {self.max_pin_length}")
        if self.lockout_max_s < self.lockout_s:
            raise ValueError(f"keypad.lockout_max_s: must be >= lockout_s ({self.lockout_s}), "
                             f"got {self.lockout_max_s}")


_DIGITS = frozenset("0123456789")
_MAX_LOCKOUT_TIMES = 200  # 24 h / the shortest lockout is far fewer with any sane settings


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
        self._lockout_times: list[float] = []  # within the last 24 h (at most one per lockout_s)
        self.revision = 0  # bumped whenever the lockout state changes (the runtime persists it then)

    def press(self, key: str, mono: float) -> list[KeypadOutcome]:
        """One key ('0'-'9', '*', '#'); anything else is ignored. While a PIN check is pending the
        key is queued and replayed by `complete`."""
        out = self.tick(mono)
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
            out.extend(self._hash(mono, locked=self.is_locked_out(mono)))
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
            locked, self._pending = self._pending.during_lockout, None  # its PIN and typed-ahead keys go with it
            return [] if locked else self._fail(mono)
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
        out += self._locked_verdict(result) if p.during_lockout else self._verdict(result, p.command, p.at)
        for key, at in p.queued:
            out += self.press(key, at)
        return out

    @property
    def pending(self) -> int | None:
        """The request id of the PIN check in flight, if any."""
        return self._pending.request_id if self._pending is not None else None

    def is_locked_out(self, mono: float) -> bool:
        return self._locked_until is not None and mono < self._locked_until

    def lockout_state(self, mono: float) -> LockoutState:
        """The lockout state as durations at `mono`, for the runtime to persist."""
        quiet_from = self._quiet_from()
        return LockoutState(
            failures=self._failures, lockouts=self._lockouts,
            locked_for_s=max(0.0, self._locked_until - mono) if self._locked_until is not None else 0.0,
            # Negative during a lockout (forgiveness starts at its end): aging it by the time the gate
            # was down stays right whether the lockout ended meanwhile or not.
            quiet_for_s=mono - quiet_from if quiet_from is not None else None,
            lockout_ages_s=tuple(max(0.0, mono - t) for t in self._lockout_times if mono - t < DAY_S))

    def restore(self, state: LockoutState, mono: float) -> None:
        """Take over a persisted state (the time the gate was down already subtracted by the caller)."""
        s = self.settings
        self._failures = max(0, min(int(state.failures), s.max_attempts - 1))
        self._lockouts = max(0, min(int(state.lockouts), 64))
        locked_for = min(max(0.0, float(state.locked_for_s)), s.lockout_max_s)
        self._locked_until = mono + locked_for if locked_for > 0 else None
        self._last_failure = mono - float(state.quiet_for_s) if state.quiet_for_s is not None else None
        ages = sorted(a for a in state.lockout_ages_s if 0 <= a < DAY_S)[:_MAX_LOCKOUT_TIMES]
        self._lockout_times = sorted(mono - a for a in ages)

    @property
    def typed(self) -> int:
        """How many keys are buffered (for a display: never the keys themselves)."""
        return len(self._buf)

    # -- internals --

    def _hash(self, mono: float, locked: bool = False) -> list[KeypadOutcome]:
        if locked:
            return self._hash_locked(mono)
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

    def _hash_locked(self, mono: float) -> list[KeypadOutcome]:
        """A '#' during a lockout: only a duress PIN is looked for; nothing is counted or opened."""
        if not self._buf and self._last_key is None:
            self._last_key = mono
            self._buf.append("#")
            return []
        entry, overflow = "".join(self._buf), self._overflow
        self._reset_entry()
        if entry.startswith("#"):
            entry = entry[2:]  # a lockdown command: the PIN after it is what matters here
        s = self.settings
        if overflow or not s.min_pin_length <= len(entry) <= s.max_pin_length:
            return []
        if self._verify is not None:
            return self._locked_verdict(self._verify(entry))
        self._pending = _Pending(next(self._ids), entry, None, mono, [], during_lockout=True)
        return [PinCheck(self._pending.request_id)]

    @staticmethod
    def _locked_verdict(match) -> list[KeypadOutcome]:
        if match is not None and match[1]:
            return [DuressDuringLockout(match[0])]
        return []

    def _quiet_from(self) -> float | None:
        """Forgiveness runs from the later of the last failure and the end of the last lockout."""
        marks = [t for t in (self._last_failure, self._locked_until) if t is not None]
        return max(marks) if marks else None

    def _verdict(self, match, command: bool | None, mono: float) -> list[KeypadOutcome]:
        if match is None:
            return self._fail(mono)
        guard_id, duress = match
        if self._failures or self._lockouts:
            self.revision += 1
        self._failures = self._lockouts = 0
        if command is None:
            return [OverrideGranted(guard_id, bool(duress))]
        return [LockdownToggle(guard_id, command, bool(duress))]

    def _fail(self, mono: float) -> list[KeypadOutcome]:
        s = self.settings
        quiet_from = self._quiet_from()
        if quiet_from is not None and mono - quiet_from >= s.forgive_after_s:
            self._failures = self._lockouts = 0
        self._last_failure = mono
        self._failures += 1
        self.revision += 1
        out: list[KeypadOutcome] = [PinRejected(self._failures)]
        if self._failures >= s.max_attempts:
            seconds = min(s.lockout_s * 2 ** min(self._lockouts, 64), s.lockout_max_s)
            self._lockouts += 1
            self._failures = 0
            self._locked_until = mono + seconds
            out.append(KeypadLockedOut(seconds))
            self._lockout_times = [t for t in self._lockout_times if mono - t < DAY_S][-_MAX_LOCKOUT_TIMES + 1:]
            self._lockout_times.append(mono)
            n, every = len(self._lockout_times), s.lockout_alarm_per_day
            if every and n >= every and n % every == 0:
                out.append(LockoutsRepeated(n))
        return out

    def _reset_entry(self) -> None:
        self._buf.clear()
        self._overflow = False
        self._last_key = None
