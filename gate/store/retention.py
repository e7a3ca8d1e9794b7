"""The journal's retention policy, run periodically: prune by age and count, watch free disk space and
the undelivered backlog, keep the high-water mark moving.

Delivery never deletes a record; this is the only thing that does, and it never deletes an undelivered
one (Journal.prune). Two conditions raise a `storage_low` alarm (once per condition, then
`storage_recovered` with the same `reason`) and the gate keeps deciding:
- `reason: "disk_space"`: free space under storage.dir below `min_free_mb`;
- `reason: "undelivered_backlog"`: undelivered records reach 80 % of `max_records` (the journal then
  grows past `max_records` rather than delete them; the free-space alarm is the hard limit).
An alarm the journal cannot take (a full disk) stays pending in memory and is journaled as soon as
the journal takes writes again; it is never dropped.

Ages are measured on a clock the wall clock cannot push forward: the first pass anchors (wall,
monotonic), later passes use min(wall, anchor + monotonic elapsed). A wall clock set 400 days ahead
therefore deletes nothing by age; one set back is followed (deleting later is the safe side).
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from gate.clock import Clock
from gate.core.errors import StorageError
from gate.store.failure_log import FailureLog
from gate.store.journal import Journal, PruneResult

log = logging.getLogger("gate.retention")

BACKLOG_ALARM = 0.8  # of max_records: undelivered records at which storage_low (backlog) is raised
BACKLOG_CLEAR = 0.6  # ... and below which it is cleared
CLOCK_JUMP_S = 120.0  # wall vs monotonic disagreement that counts as a jump (NTP slews far less)
WAKE_MIN_S = 5.0  # a write failure wakes a pass, at most this often


@dataclass(frozen=True)
class RetentionPolicy:
    retention_days: float = 90
    security_retention_days: float = 365
    max_records: int = 2_000_000
    min_free_mb: int = 64
    interval_seconds: float = 3600.0


def disk_free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / (1024 * 1024)


class Retention:
    """Applies a RetentionPolicy to a journal. `run_once()` for tests and at start; `start()` runs it
    every `interval_seconds` on a background thread (`wake()` runs one sooner, e.g. after a failed
    write). `record(type, fields)` journals the storage alarms (the daemon routes them through its
    core so they appear in the active alarms); when it raises StorageError the alarm stays pending."""

    def __init__(
        self,
        journal: Journal,
        policy: RetentionPolicy,
        *,
        record: Callable[[str, dict[str, Any]], Any] | None = None,
        free_mb: Callable[[], float] | None = None,
        clock: Clock | None = None,
    ):
        self.journal = journal
        self.policy = policy
        self.record = record or journal.append
        self.free_mb = free_mb or (lambda: disk_free_mb(journal.path.parent))
        self.clock = clock or journal.clock
        self.low: dict[str, bool] = {"disk_space": False, "undelivered_backlog": False}
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self._anchor: tuple[datetime, float] | None = None
        self._jumped = False
        self._failures = FailureLog(log, level=logging.ERROR)
        self._lock = threading.Lock()  # run_once from the thread and from a caller never overlap
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass -------------------------------------------------------------------------------
    def run_once(self) -> PruneResult:
        with self._lock:
            self._flush()
            p = self.policy
            result = PruneResult()
            try:
                result = self.journal.prune(retention_days=p.retention_days,
                                            security_retention_days=p.security_retention_days,
                                            max_records=p.max_records, now=self.trusted_now())
                if result.records:
                    log.info("retention: deleted %d record(s) by age, %d by count", result.by_age, result.by_count)
                if result.over_cap_undelivered:
                    log.warning("retention: %d record(s) above storage.max_records kept: not yet delivered",
                                result.over_cap_undelivered)
                # A gate without an uplink still moves its high-water mark (gate.store.seqmark).
                self.journal.ensure_durable(self.journal.last_seq)
                self._failures.succeeded("retention pass works again")
            except StorageError as exc:
                self._failures.failed("retention pass failed", exc)
            self._check_backlog()
            self._check_space()
            return result

    def trusted_now(self) -> datetime:
        """The wall time for ages: never ahead of the anchor plus monotonic time elapsed."""
        wall, mono = self.clock.wall(), self.clock.monotonic()
        if self._anchor is None:
            self._anchor = (wall, mono)
            return wall
        expected = self._anchor[0] + timedelta(seconds=mono - self._anchor[1])
        drift = (wall - expected).total_seconds()
        if abs(drift) > CLOCK_JUMP_S and not self._jumped:
            log.warning("wall clock jumped by %+.0f s against the monotonic clock; retention ages use %s",
                        drift, "the monotonic clock" if drift > 0 else "the (earlier) wall clock")
        self._jumped = abs(drift) > CLOCK_JUMP_S
        if drift < 0:  # set back: follow it (ages come out shorter, nothing is deleted early)
            self._anchor = (wall, mono)
            return wall
        return min(wall, expected)

    def _check_backlog(self) -> None:
        try:
            undelivered = self.journal.backlog()
        except StorageError:
            return
        cap = self.policy.max_records
        if undelivered >= BACKLOG_ALARM * cap and not self.low["undelivered_backlog"]:
            self.low["undelivered_backlog"] = True
            log.critical("%d undelivered records (storage.max_records %d): the journal keeps them all", undelivered, cap)
            self._raise("storage_low", {"reason": "undelivered_backlog", "undelivered": undelivered, "max_records": cap})
        elif undelivered < BACKLOG_CLEAR * cap and self.low["undelivered_backlog"]:
            self.low["undelivered_backlog"] = False
            self._raise("storage_recovered", {"reason": "undelivered_backlog", "undelivered": undelivered})

    def _check_space(self) -> None:
        try:
            free = self.free_mb()
        except OSError as exc:
            log.error("cannot read free space of %s: %s", self.journal.path.parent, exc)
            return
        need = self.policy.min_free_mb
        if free < need and not self.low["disk_space"]:
            self.low["disk_space"] = True
            log.critical("storage nearly full: %.1f MB free (alarm below %d MB)", free, need)
            self._raise("storage_low", {"reason": "disk_space", "free_mb": round(free, 1), "min_free_mb": need})
        elif free >= need * 1.25 and self.low["disk_space"]:  # hysteresis: no alarm flapping
            self.low["disk_space"] = False
            self._raise("storage_recovered", {"reason": "disk_space", "free_mb": round(free, 1)})

    def _raise(self, record_type: str, fields: dict[str, Any]) -> None:
        self.pending.append((record_type, fields))
        self._flush()

    def _flush(self) -> None:
        """Journal the pending storage records in order; what the journal refuses waits for the next try."""
        while self.pending:
            record_type, fields = self.pending[0]
            try:
                self.record(record_type, fields)
            except StorageError as exc:
                self._failures.failed(f"cannot journal {record_type} yet (kept pending)", exc)
                return
            self.pending.pop(0)

    # --- background -----------------------------------------------------------------------------
    def start(self) -> "Retention":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
            self._thread.start()
        return self

    def wake(self, *_args) -> None:
        """Run a pass soon (at most every WAKE_MIN_S): a journal write just failed, maybe the disk is full."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            last = time.monotonic()
            self._wake.wait(self.policy.interval_seconds)
            self._wake.clear()
            rest = WAKE_MIN_S - (time.monotonic() - last)
            if rest > 0:
                self._stop.wait(rest)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "Retention":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
