"""Verification of station commands (interface §5) before anything acts on them.

Checks, in this order, each with a stable `reason` that is journaled and answered:
`malformed` (not a JSON object of valid Unicode: a JSON escape of a lone surrogate such as "\ud800"
is valid JSON but no UTF-8 text, and could be neither signed, journaled nor answered), `retained` (a retained message is never a command: it would act
again on every reconnect), `no_secret` (the gate has no usable key), `missing_signature`,
`bad_signature`, `wrong_gate`, `stale` (`issued_at` missing, unparsable or more than
`max_skew_seconds` from the gate's clock), `missing_cmd_id`, `reused` (cmd_id seen before; ids are
kept in the journal database, so across restarts too). Only a command that passed the signature,
gate and freshness checks may burn a cmd_id, so forged traffic cannot pre-empt real ids.

`RejectionLimiter` keeps a flood of rejected traffic from flooding the journal (see its docstring).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.clock import Clock, SystemClock
from gate.core.errors import InputError
from gate.store.journal import Journal
from gate.uplink.signing import load_secret, verify
from gate.core.timefmt import parse_ts

MAX_ID_CHARS = 128
MAX_PAYLOAD_BYTES = 1024 * 1024


class CommandRejected(InputError):
    """A command failed verification. `reason` is one of the module docstring's codes."""

    def __init__(self, reason: str, detail: str, *, cmd_id: str = "", action: str = ""):
        self.reason, self.detail, self.cmd_id, self.action = reason, detail, cmd_id, action
        super().__init__(f"{reason}: {detail}" if detail else reason)


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


def _is_utf8_text(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class CommandGate:
    """Verifies raw `P/G/cmd` payloads for one gate; returns the command object or raises CommandRejected."""

    def __init__(
        self,
        gate_id: str,
        journal: Journal,
        *,
        key: bytes | None = None,
        secret_file: str | Path | None = None,
        clock: Clock | None = None,
        max_skew_seconds: float = 30.0,
    ):
        self.gate_id = gate_id
        self.journal = journal
        self.clock = clock or SystemClock()
        self.max_skew_seconds = max_skew_seconds
        self.secret_file = secret_file
        self._key = key
        self.key_problem = ""
        if key is None and secret_file:
            self.reload_key()

    @property
    def key(self) -> bytes | None:
        """The gate's secret (None when unusable): it also MACs what the gate publishes (signing.seal)."""
        return self._key

    def reload_key(self) -> None:
        """(Re)read the secret file; on failure commands are rejected with `no_secret`."""
        try:
            self._key = load_secret(self.secret_file)
            self.key_problem = ""
        except (OSError, ValueError) as exc:
            self._key = None
            self.key_problem = f"mqtt.command_secret_file {self.secret_file}: {exc}"

    def verify(self, payload: bytes, *, retained: bool) -> dict[str, Any]:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise CommandRejected("malformed", f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            obj = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CommandRejected("malformed", f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise CommandRejected("malformed", "command must be a JSON object")
        ids = {"cmd_id": _short(obj.get("cmd_id")), "action": _short(obj.get("action"))}
        if not _is_utf8_text(obj):
            raise CommandRejected("malformed", "a string holds a lone surrogate escape (e.g. \\ud800): not UTF-8 text", **ids)
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
        cmd_id = obj.get("cmd_id")
        if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > MAX_ID_CHARS:
            raise CommandRejected("missing_cmd_id", f"cmd_id must be a string of 1-{MAX_ID_CHARS} characters", **ids)
        if not isinstance(obj.get("action"), str) or not obj["action"]:
            raise CommandRejected("malformed", "action must be a non-empty string", **ids)
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
