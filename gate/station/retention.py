"""Retention at the station: ordinary records older than `[station] retain_days` are deleted, alarms
and their handling (the alarm records, the `alarm_acknowledged` / `alarm_cleared` records that close
or restore them, acknowledgements, claims, notes, camera snapshots, the audit log, conflicting
copies kept aside) after `retain_alarm_days`. 0 keeps forever, the default: deleting evidence is
the operator's decision, made to fit local rules.

In batches of `batch` rows, each its own short transaction (on SQLite the write lock is held for one
batch only, and `pause` seconds pass between batches so the consumer's writes go first). The sequence
bookkeeping never asks for what was pruned: a gate's contiguous mark is moved over the highest seq
deleted, so `gaps()` starts after it (a hole older than the retention window is not asked for either:
it would be pruned on arrival). Works on both store backends (`store_sql.StoreSql`).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gate.clock import Clock, SystemClock
from gate.core.timefmt import format_ts

log = logging.getLogger("gate.station.retention")

HANDLING = ("alarm_acknowledged", "alarm_cleared")  # event records that belong to an alarm's story
_ALARM_ROWS = f"(kind = 'alarm' OR type IN {HANDLING!r})"
_ORDINARY_ROWS = f"(kind <> 'alarm' AND type NOT IN {HANDLING!r})"
# Tables keyed by an alarm's (gate, seq): deleted with the alarm (the console's exist on SQLite once
# the console ran; on PostgreSQL with its console migration).
_PER_ALARM = ("acks", "claims", "console_acks", "snapshots")
# (table, time column, which retention): rows deleted by age alone.
_BY_AGE = (("audit", "at", "alarm"), ("conflicts", "received_at", "alarm"), ("replay_requests", "asked_at", "records"))
PRUNE_EVERY_S = 3600.0


@dataclass
class PruneReport:
    """What a prune removed (or, dry, would remove): rows per table."""

    dry_run: bool
    records: int = 0          # ordinary records
    alarm_records: int = 0    # alarms and the records closing or restoring them
    tables: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb} {self.records} record(s) and {self.alarm_records} alarm record(s)"]
        out += [f"{verb} {n} row(s) of {t}" for t, n in sorted(self.tables.items()) if n]
        return out


def prune(store: Any, *, retain_days: float, retain_alarm_days: float, now: datetime, dry_run: bool = False,
          batch: int = 500, pause: float = 0.0, stop: threading.Event | None = None) -> PruneReport:
    """Delete what is older than the retention (0 days: keep forever); returns what was removed."""
    from gate.station.store_sql import StoreSql

    sql = StoreSql(store)
    report = PruneReport(dry_run)
    cut_records = format_ts(now - timedelta(days=retain_days)) if retain_days > 0 else None
    cut_alarms = format_ts(now - timedelta(days=retain_alarm_days)) if retain_alarm_days > 0 else None
    per_alarm = [t for t in _PER_ALARM if sql.has_table(t)]
    waiter = stop or threading.Event()
    for cutoff, rows, is_alarm in ((cut_records, _ORDINARY_ROWS, False), (cut_alarms, _ALARM_ROWS, True)):
        if cutoff is None:
            continue
        where = f"{rows} AND received_at < ?"
        if dry_run:
            n = sql.read(f"SELECT COUNT(*) FROM records WHERE {where}", (cutoff,))[0][0]
        else:
            n = 0
            while not waiter.is_set():
                done = sql.write(lambda x: _delete_batch(x, where, cutoff, batch, per_alarm if is_alarm else (),
                                                        report.tables))
                n += done
                if done < batch or waiter.wait(pause):
                    break
        if is_alarm:
            report.alarm_records = n
        else:
            report.records = n
    for table, column, which in _BY_AGE:
        cutoff = cut_alarms if which == "alarm" else cut_records
        if cutoff is None or not sql.has_table(table):
            continue
        if dry_run:
            report.tables[table] = sql.read(f"SELECT COUNT(*) FROM {table} WHERE {column} < ?", (cutoff,))[0][0]
        else:
            report.tables[table] = sql.write(lambda x: x(f"DELETE FROM {table} WHERE {column} < ?",
                                                         (cutoff,)).rowcount)
    return report


def _delete_batch(x, where: str, cutoff: str, batch: int, per_alarm, counts: dict[str, int]) -> int:
    """One transaction: up to `batch` records, their per-alarm rows, and the gates' contiguous marks."""
    gone = x(f"DELETE FROM records WHERE (gate, seq) IN (SELECT gate, seq FROM records WHERE {where} LIMIT ?) "
             "RETURNING gate, seq", (cutoff, batch)).fetchall()
    top: dict[str, int] = {}
    for gate, seq in gone:
        top[gate] = max(top.get(gate, 0), seq)
        for table in per_alarm:
            counts[table] = counts.get(table, 0) + x(f"DELETE FROM {table} WHERE gate=? AND seq=?", (gate, seq)).rowcount
    for gate, seq in sorted(top.items()):
        if seq > 0:  # the station's own records (seq < 0) are outside the gate's sequence
            x("UPDATE gates SET contiguous = ? WHERE gate = ? AND contiguous < ?", (seq, gate, seq))
    return len(gone)


class Pruner:
    """`serve`'s retention thread: prunes at start and every PRUNE_EVERY_S with its own store
    connection, never on the consumer's worker. Does nothing when both retentions are 0 (forever)."""

    def __init__(self, cfg: Any, *, clock: Clock | None = None, every: float = PRUNE_EVERY_S):
        self.cfg, self._clock, self._every = cfg, clock or SystemClock(), every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: PruneReport | None = None

    def start(self) -> "Pruner":
        if self.cfg.retain_days > 0 or self.cfg.retain_alarm_days > 0:
            self._thread = threading.Thread(target=self._run, name="station-retention", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        from gate.station.store import open_station_store

        while not self._stop.is_set():
            try:
                with open_station_store(self.cfg.store) as store:
                    self.last = prune(store, retain_days=self.cfg.retain_days, now=self._clock.wall(),
                                      retain_alarm_days=self.cfg.retain_alarm_days, pause=0.05, stop=self._stop)
                for line in self.last.lines():
                    log.info("retention: %s", line)
            except Exception:  # noqa: BLE001 - the next run tries again; the station keeps running
                log.exception("retention: pruning failed")
            self._stop.wait(self._every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
