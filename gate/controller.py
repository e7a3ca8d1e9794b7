"""Executes the core's actions: every Record is committed to the journal before the lock moves,
a signal plays or anything is published."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from .actions import DriveLock, Record, Signal
from .clock import Clock
from .core import GateCore
from .errors import StorageError
from .events import Tick
from .journal import Journal, JournalRecord

log = logging.getLogger("gate.controller")


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
    ):
        self.core = core
        self.journal = journal
        self.lock = lock
        self.clock = clock
        self.signal_sinks = list(signal_sinks or [])
        self.record_listeners = list(record_listeners or [])
        self._unwritten: list[tuple[str, dict]] = []
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
        records = [(a.type, a.fields) for a in actions if isinstance(a, Record)]
        committed = self._commit(records)
        for a in actions:
            if isinstance(a, DriveLock):
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
        with self._snapshot_lock:
            self._snapshot = self.core.snapshot()
        return committed

    def _commit(self, records: list[tuple[str, dict]]) -> list[JournalRecord]:
        pending = self._unwritten + records
        if not pending:
            return []
        try:
            committed = self.journal.append_many(pending)
        except StorageError:
            # The gate keeps deciding with a failing disk; the records wait in memory for the next write.
            log.critical("journal write failed; %d record(s) held in memory", len(pending), exc_info=True)
            self._unwritten = pending[-10_000:]
            return []
        self._unwritten = []
        for rec in committed:
            log.info("#%d %s %s", rec.seq, rec.type, _summary(rec.fields))
            for listener in self.record_listeners:
                try:
                    listener(rec)
                except Exception:
                    log.exception("record listener failed")
        return committed


def _summary(fields: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
