"""Executes the core's actions: every Record is committed to the journal before the lock moves,
a signal plays or anything is published.

Two deliberate exceptions, both for people getting out: a fire release and an exit-button release
drive the relay first and journal right after, so a slow or failing disk never delays an evacuation.
When the journal cannot be written, the gate keeps the records in memory, reports a `journal`
device fault, and refuses every other grant (card, override, remote): nobody enters unrecorded.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from gate.core.actions import DriveLock, Record, Signal, VerifyPin
from gate.clock import Clock
from gate.core.machine import GateCore
from gate.core.errors import StorageError
from gate.core.events import DeviceHealth, Tick
from gate.store.failure_log import FailureLog
from gate.store.journal import Journal, JournalRecord
from gate.core.timefmt import format_ts

log = logging.getLogger("gate.controller")

LIFE_SAFETY = frozenset({"fire", "exit"})  # releases that never wait for, or depend on, the disk
MAX_HELD = 10_000  # records kept in memory while the journal cannot be written


class Controller:
    """Feeds events to the core from one thread and carries out what it returns, journal first."""

    def __init__(
        self,
        core: GateCore,
        journal: Journal,
        *,
        lock,
        clock: Clock,
        signal_sinks: list[Callable[[str], None]] | None = None,
        record_listeners: list[Callable[[JournalRecord], None]] | None = None,
        pin_verifier: Callable[[int], None] | None = None,
    ):
        self.core = core
        self.journal = journal
        self.lock = lock
        self.clock = clock
        self.signal_sinks = list(signal_sinks or [])
        self.record_listeners = list(record_listeners or [])
        # Starts a keypad PIN check off this thread (VerifyPin); None: such actions are ignored.
        self.pin_verifier = pin_verifier
        self._unwritten: list[tuple[str, dict]] = []
        self._write_failures = FailureLog(log)
        self._batch_since: str | None = None
        self._snapshot_lock = threading.Lock()
        self._snapshot = core.snapshot()

    def snapshot(self) -> dict:
        with self._snapshot_lock:
            return dict(self._snapshot)

    def process(self, event) -> list[JournalRecord]:
        return self.execute(self.core.handle(event, self.clock.wall()))

    def tick(self) -> list[JournalRecord]:
        return self.process(Tick(self.clock.monotonic()))

    def record(self, record_type: str, fields: dict | None = None) -> list[JournalRecord]:
        """Journal a record that no core decision produced (daemon start/stop, commands)."""
        return self.execute([Record(record_type, fields or {})])

    def execute(self, actions) -> list[JournalRecord]:
        actions = list(actions)
        early = [a for a in actions if isinstance(a, DriveLock) and a.released and a.kind in LIFE_SAFETY]
        for a in early:
            self.lock.release()
        records = [(a.type, a.fields) for a in actions if isinstance(a, Record)]
        committed, ok = self._commit(records)
        if not ok:
            actions = self._without_unrecorded_grants(actions)
        for a in actions:
            if isinstance(a, DriveLock):
                if a in early and a.released and a.kind in LIFE_SAFETY:
                    continue
                if a.released:
                    self.lock.release()
                else:
                    self.lock.engage()
            elif isinstance(a, Signal):
                for sink in self.signal_sinks:
                    try:
                        sink(a.pattern)
                    except Exception:  # feedback must never stop the door logic
                        log.exception("signal %s failed", a.pattern)
            elif isinstance(a, VerifyPin) and self.pin_verifier is not None:
                try:
                    self.pin_verifier(a.request_id)
                except Exception:  # the check then times out in the keypad entry: a refusal
                    log.exception("PIN check %d could not be started", a.request_id)
        with self._snapshot_lock:
            self._snapshot = self.core.snapshot()
        return committed

    def _without_unrecorded_grants(self, actions: list) -> list:
        """The journal refused this batch: keep life-safety releases, drop every other release
        (and its green light), and put the core's door state back to locked."""
        if not any(isinstance(a, DriveLock) and a.released and a.kind not in LIFE_SAFETY for a in actions):
            return actions
        kept = []
        for a in actions:
            if isinstance(a, DriveLock) and a.released and a.kind not in LIFE_SAFETY:
                continue
            kept.append(Signal("refused") if a == Signal("granted") else a)
        # What is held must say what happened: this grant was refused, not given.
        self._unwritten = [("access_refused", {**f, "reason": "journal_unavailable"})
                           if t == "access_granted" and f.get("held_since") == self._batch_since else (t, f)
                           for t, f in self._unwritten]
        undo = self.core.door.revoke_grant("journal_unavailable")
        self._hold([(r.type, r.fields) for r in undo if isinstance(r, Record)])
        log.critical("grant refused: the journal cannot record it")
        return kept

    def _hold(self, records: list[tuple[str, dict]], since: str | None = None) -> None:
        since = since or format_ts(self.clock.wall())
        held = [(t, {**f, "held_since": f.get("held_since", since)}) for t, f in records]
        self._unwritten = (self._unwritten + held)[-MAX_HELD:]

    def _commit(self, records: list[tuple[str, dict]]) -> tuple[list[JournalRecord], bool]:
        pending = self._unwritten + records
        if not pending:
            return [], True
        try:
            committed = self.journal.append_many(pending)
        except StorageError as exc:
            # The gate keeps deciding with a failing disk; the records wait in memory for the next write.
            # A full disk fails every write: one traceback, then a line a minute (gate.store.failure_log).
            self._write_failures.failed(f"journal write failed; {len(pending)} record(s) held in memory", exc)
            self._unwritten = []
            self._batch_since = format_ts(self.clock.wall())
            self._hold(pending, self._batch_since)
            if "journal" not in self.core.faulty_devices:
                fault = self.core.handle(DeviceHealth("journal", False, self.clock.monotonic(), str(exc)),
                                         self.clock.wall())
                self._hold([(r.type, r.fields) for r in fault if isinstance(r, Record)], self._batch_since)
            return [], False
        self._unwritten = []
        self._write_failures.succeeded("journal writes work again")
        self._announce(committed)
        if "journal" in self.core.faulty_devices:
            recovered = self.core.handle(DeviceHealth("journal", True, self.clock.monotonic()), self.clock.wall())
            more = [(r.type, r.fields) for r in recovered if isinstance(r, Record)]
            try:
                extra = self.journal.append_many(more) if more else []
            except StorageError:
                self._hold(more)
                extra = []
            self._announce(extra)
            committed = committed + extra
        return committed, True

    def _announce(self, committed: list[JournalRecord]) -> None:
        for rec in committed:
            log.info("#%d %s %s", rec.seq, rec.type, _summary(rec.fields))
            for listener in self.record_listeners:
                try:
                    listener(rec)
                except Exception:
                    log.exception("record listener failed")


def _summary(fields: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
