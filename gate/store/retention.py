"""The journal's retention policy, run periodically: prune by age and count, watch free disk space.

Delivery never deletes a record; this is the only thing that does (see Journal.prune for the order:
ordinary records go first, security records are kept longest, undelivered records are not aged out).
When free space under storage.dir falls below `min_free_mb` the gate journals a `storage_low` alarm
(once, until space recovers: `storage_recovered`) and keeps deciding; the alarm goes to the station.
"""
from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gate.core.errors import StorageError
from gate.store.journal import Journal, PruneResult

log = logging.getLogger("gate.retention")


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
    every `interval_seconds` on a background thread. `record(type, fields)` journals the storage alarm."""

    def __init__(
        self,
        journal: Journal,
        policy: RetentionPolicy,
        *,
        record: Callable[[str, dict[str, Any]], Any] | None = None,
        free_mb: Callable[[], float] | None = None,
    ):
        self.journal = journal
        self.policy = policy
        self.record = record or journal.append
        self.free_mb = free_mb or (lambda: disk_free_mb(journal.path.parent))
        self.low = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PruneResult:
        p = self.policy
        result = PruneResult()
        try:
            result = self.journal.prune(
                retention_days=p.retention_days,
                security_retention_days=p.security_retention_days,
                max_records=p.max_records,
            )
            if result.records:
                log.info("retention: deleted %d record(s) by age, %d by count", result.by_age, result.by_count)
        except StorageError:
            log.exception("retention pass failed")
        self._check_space()
        return result

    def _check_space(self) -> None:
        try:
            free = self.free_mb()
        except OSError as exc:
            log.error("cannot read free space of %s: %s", self.journal.path.parent, exc)
            return
        if free < self.policy.min_free_mb and not self.low:
            self.low = True
            log.critical("storage nearly full: %.0f MB free (alarm below %d MB)", free, self.policy.min_free_mb)
            self._journal("storage_low", {"free_mb": round(free, 1), "min_free_mb": self.policy.min_free_mb})
        elif free >= self.policy.min_free_mb * 1.25 and self.low:  # hysteresis: no alarm flapping
            self.low = False
            self._journal("storage_recovered", {"free_mb": round(free, 1)})

    def _journal(self, record_type: str, fields: dict[str, Any]) -> None:
        try:
            self.record(record_type, fields)
        except StorageError:
            log.exception("cannot journal %s", record_type)

    # --- background -----------------------------------------------------------------------------
    def start(self) -> "Retention":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.policy.interval_seconds)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "Retention":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
