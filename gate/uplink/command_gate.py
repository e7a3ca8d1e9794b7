"""Verification of station commands (interface §5) before anything acts on them.

Checks, in this order, each with a stable `reason` that is journaled and answered:
`malformed` (command_parse.py: too big, too deep, not a JSON object of valid Unicode, duplicate keys,
NaN; a JSON escape of a lone surrogate such as "\ud800" is valid JSON but no UTF-8 text), `retained` (a retained message is never a command: it would act
again on every reconnect), `no_secret` (the gate has no usable key), `missing_signature`,
`bad_signature`, `wrong_gate`, `stale` (`issued_at` missing, unparsable, more than
`max_skew_seconds` from the gate's clock, or below the replay floor: replay_floor.py), `missing_cmd_id`, `reused` (cmd_id seen before; ids are
kept in the journal database, so across restarts too). Only a command that passed the signature,
gate and freshness checks may burn a cmd_id, so forged traffic cannot pre-empt real ids.

`RejectionLimiter` keeps a flood of rejected traffic from flooding the journal (see its docstring).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.clock import Clock, SystemClock
from gate.core.errors import StorageError
from gate.store.journal import Journal
from gate.uplink.command_parse import parse_command
from gate.uplink.rejection import MAX_ID_CHARS, MAX_PAYLOAD_BYTES, CommandRejected  # noqa: F401 (re-exported)
from gate.uplink.replay_floor import FILE_NAME as FLOOR_FILE, ReplayFloor
from gate.uplink.signing import load_secret, verify
from gate.core.timefmt import parse_ts

def _short(value: Any) -> str:
    return printable_text(value[:MAX_ID_CHARS]) if isinstance(value, str) else ""


def printable_text(text: str) -> str:
    """`text` with lone surrogates escaped (`\\ud800`), so it can be encoded as UTF-8 for the journal
    and the answer."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Reasons given before the signature is checked: nobody authenticated these commands, so their
# answers carry the bare reason, their ids are echoed only in a safe form (command_parse.safe_id),
# and their answers are rate-limited (audit F16).
UNAUTHENTICATED = frozenset({"malformed", "retained", "no_secret", "missing_signature", "bad_signature",
                             "overloaded"})
MIN_KEY_BYTES = 32


class CommandGate:
    """Verifies raw `P/G/cmd` payloads for one gate; returns the command object or raises CommandRejected.

    `floor_path` holds the replay floor (replay_floor.py; default: next to the journal database)."""

    def __init__(
        self,
        gate_id: str,
        journal: Journal,
        *,
        key: bytes | None = None,
        secret_file: str | Path | None = None,
        clock: Clock | None = None,
        max_skew_seconds: float = 30.0,
        floor_path: str | Path | None = None,
    ):
        self.gate_id = gate_id
        self.journal = journal
        self.clock = clock or SystemClock()
        self.max_skew_seconds = max_skew_seconds
        self.secret_file = secret_file
        self.key_problem = ""
        self._key = None
        if key is not None:
            self._set_key(key, "key")
        elif secret_file:
            self.reload_key()
        self.floor = ReplayFloor(floor_path or Path(journal.path).with_name(FLOOR_FILE),
                                 window_seconds=max_skew_seconds, now=self.clock.wall().timestamp())

    def _set_key(self, key: bytes, where: str) -> None:
        if len(key) < MIN_KEY_BYTES:
            self._key = None
            self.key_problem = f"{where}: the command secret has {len(key)} bytes, at least {MIN_KEY_BYTES} needed " \
                               "(gatectl secret PATH writes a good one)"
        else:
            self._key, self.key_problem = key, ""

    @property
    def key(self) -> bytes | None:
        """The gate's secret (None when unusable): it also MACs what the gate publishes (signing.seal)."""
        return self._key

    def reload_key(self) -> None:
        """(Re)read the secret file; on failure commands are rejected with `no_secret`."""
        try:
            self._set_key(load_secret(self.secret_file), f"mqtt.command_secret_file {self.secret_file}")
        except (OSError, ValueError) as exc:
            self._key = None
            self.key_problem = f"mqtt.command_secret_file {self.secret_file}: {exc}"

    def verify(self, payload: bytes, *, retained: bool) -> dict[str, Any]:
        """Parse (command_parse.parse_command) and verify a raw payload."""
        return self.verify_object(parse_command(payload), retained=retained)

    def verify_object(self, obj: dict[str, Any], *, retained: bool) -> dict[str, Any]:
        """Verify a parsed command object (the checks after `malformed`, in the documented order)."""
        ids = {"cmd_id": _short(obj.get("cmd_id")), "action": _short(obj.get("action"))}
        if retained:
            raise CommandRejected("retained", "retained messages are never executed", **ids)
        if self._key is None:
            raise CommandRejected("no_secret", self.key_problem or "no command secret configured", **ids)
        if "sig" not in obj:
            raise CommandRejected("missing_signature", "no 'sig' field", **ids)
        if not verify(obj, self._key):
            raise CommandRejected("bad_signature", "signature does not match", **ids)
        if obj.get("gate") != self.gate_id:
            raise CommandRejected("wrong_gate", f"addressed to {_short(str(obj.get('gate')))!r}, this is {self.gate_id!r}", **ids)
        try:
            issued = parse_ts(obj.get("issued_at"))
        except ValueError as exc:
            raise CommandRejected("stale", f"issued_at: {exc}", **ids) from None
        skew = abs((self.clock.wall() - issued).total_seconds())
        if skew > self.max_skew_seconds:
            raise CommandRejected("stale", f"issued_at is {skew:.0f} s from the gate's clock (limit {self.max_skew_seconds:g} s)", **ids)
        if not self.floor.admits(issued.timestamp()):
            raise CommandRejected("stale", "issued_at is older than the replay floor (more than "
                                  f"{self.max_skew_seconds:g} s before the newest accepted command)", **ids)
        cmd_id = obj.get("cmd_id")
        if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > MAX_ID_CHARS:
            raise CommandRejected("missing_cmd_id", f"cmd_id must be a string of 1-{MAX_ID_CHARS} characters", **ids)
        if not isinstance(obj.get("action"), str) or not obj["action"]:
            raise CommandRejected("malformed", "action must be a non-empty string", **ids)
        if self.floor.seen(cmd_id):
            raise CommandRejected("reused", f"cmd_id {cmd_id!r} was seen before", **ids)
        try:
            self.floor.accept(cmd_id, issued.timestamp())  # first: it outlives any journal retention
        except OSError as exc:
            raise StorageError(f"{self.floor.path}: cannot save the replay floor: {exc}") from exc
        if not self.journal.remember_command(cmd_id):
            raise CommandRejected("reused", f"cmd_id {cmd_id!r} was seen before", **ids)
        return obj


@dataclass
class _Window:
    start: float
    journaled: int = 0
    suppressed: int = 0


class RejectionLimiter:
    """Rate limit for journaling `command_rejected` records, per reason.

    Every rejection is a FULL-sync (fsynced) security record; a flood of garbage on `P/G/cmd` would
    stall the journal and, under the record-count retention, push real records out. So per reason at
    most `per_window` rejections are journaled in a window of `window_seconds` (opened by the first
    rejection); the rest are counted, and when the window ends one summary is due
    (`{"reason", "suppressed", "window_seconds"}`). Every rejection is still answered on cmd/result:
    answers cost no disk. Thread-safe; time on the injected monotonic clock.
    """

    def __init__(self, *, per_window: int = 20, window_seconds: float = 60.0, clock: Clock | None = None):
        if per_window < 1 or window_seconds <= 0:
            raise ValueError(f"RejectionLimiter: per_window must be >= 1 and window_seconds > 0, "
                             f"got {per_window}, {window_seconds}")
        self.per_window, self.window_seconds = per_window, window_seconds
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._pending: list[dict[str, Any]] = []  # summaries of ended windows, not yet taken

    def admit(self, reason: str) -> bool:
        """True: journal this rejection. False: it is counted for the window's summary instead."""
        now = self.clock.monotonic()
        with self._lock:
            w = self._windows.get(reason)
            if w is None or now - w.start >= self.window_seconds:
                if w is not None:
                    self._close_window(reason, w)
                w = self._windows[reason] = _Window(now)
            if w.journaled < self.per_window:
                w.journaled += 1
                return True
            w.suppressed += 1
            return False

    def count(self, reason: str, n: int) -> None:
        """Count `n` rejections that cannot be handled one by one (e.g. dropped) into `reason`'s summary."""
        if n <= 0:
            return
        now = self.clock.monotonic()
        with self._lock:
            w = self._windows.get(reason)
            if w is None or now - w.start >= self.window_seconds:
                if w is not None:
                    self._close_window(reason, w)
                w = self._windows[reason] = _Window(now, journaled=self.per_window)
            w.suppressed += n

    def due(self, *, flush: bool = False) -> list[dict[str, Any]]:
        """Summaries of windows that ended with suppressed rejections (every open window's too with
        `flush`, e.g. at shutdown). Each summary is returned once."""
        now = self.clock.monotonic()
        with self._lock:
            for reason, w in list(self._windows.items()):
                if flush or now - w.start >= self.window_seconds:
                    del self._windows[reason]
                    self._close_window(reason, w)
            out, self._pending = self._pending, []
        return out

    def _close_window(self, reason: str, w: _Window) -> None:
        if w.suppressed:
            self._pending.append({"reason": reason, "suppressed": w.suppressed, "window_seconds": self.window_seconds})
