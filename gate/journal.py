"""The durable journal: every decision, refusal and alarm, in SQLite WAL (journal.db under storage.dir).

`seq` is gapless and never reused: it comes from a counter kept in the same transaction as the record,
so a crash or power cut can lose neither a committed record nor its number. The journal is also the
uplink's outbox (`delivered` flag); delivery never deletes a record.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .clock import Clock, SystemClock
from .errors import StorageError
from .passes import open_db
from .records import is_alarm, is_security
from .timefmt import format_ts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    alarm INTEGER NOT NULL,
    security INTEGER NOT NULL,
    body TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_undelivered ON records(delivered, alarm, seq);
CREATE INDEX IF NOT EXISTS records_type ON records(type, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class JournalRecord:
    """One committed record. `payload()` is the MQTT/JSON form of interface §4."""

    seq: int
    id: str
    ts: str
    type: str
    gate: str
    fields: dict[str, Any]
    delivered: bool = False

    @property
    def alarm(self) -> bool:
        return is_alarm(self.type)

    def payload(self, historical: bool = False) -> dict[str, Any]:
        body = dict(self.fields)
        body.update(gate=self.gate, seq=self.seq, id=self.id, ts=self.ts, type=self.type, historical=historical)
        return body


class Journal:
    """Append-only, thread-safe record store with a gapless sequence."""

    def __init__(self, path: str | Path, gate_id: str, *, clock: Clock | None = None):
        self.path = Path(path)
        self.gate_id = gate_id
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._conn = open_db(self.path)
        # FULL: a commit reaches the disk before append() returns, so a record the relay or the
        # uplink acted on survives a power cut (and its seq is never handed out twice).
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._check_integrity()
        self._last_seq = self._load_last_seq()

    def _check_integrity(self) -> None:
        result = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise StorageError(f"{self.path}: integrity check failed: {result}")

    def _load_last_seq(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        stored = int(row[0]) if row else 0
        top = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
        return max(stored, top)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def append(self, record_type: str, fields: dict[str, Any] | None = None) -> JournalRecord:
        """Commit one record durably and return it. Raises StorageError when the disk refuses."""
        return self.append_many([(record_type, fields or {})])[0]

    def append_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[JournalRecord]:
        """Commit several records in one transaction (one fsync), in order."""
        if not items:
            return []
        ts = format_ts(self.clock.wall())
        with self._lock:
            if self._conn is None:
                raise StorageError(f"{self.path}: journal is closed")
            out: list[JournalRecord] = []
            seq = self._last_seq
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                # Another process (a CLI) may have appended since we loaded the counter.
                row = self._conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
                seq = max(seq, int(row[0]) if row else 0)
                for record_type, fields in items:
                    seq += 1
                    rec = JournalRecord(seq, uuid.uuid4().hex, ts, record_type, self.gate_id, dict(fields))
                    self._conn.execute(
                        "INSERT INTO records(seq, id, ts, type, alarm, security, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (seq, rec.id, ts, record_type, int(rec.alarm), int(is_security(record_type)),
                         json.dumps(rec.fields, separators=(",", ":"), ensure_ascii=False)),
                    )
                    out.append(rec)
                self._conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_seq', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(seq),),
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StorageError(f"{self.path}: cannot write journal: {exc}") from exc
            self._last_seq = seq
            return out

    def _row(self, row) -> JournalRecord:
        seq, rid, ts, rtype, body, delivered = row
        return JournalRecord(seq, rid, ts, rtype, self.gate_id, json.loads(body), bool(delivered))

    _COLUMNS = "seq, id, ts, type, body, delivered"

    def get(self, seq: int) -> JournalRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {self._COLUMNS} FROM records WHERE seq = ?", (seq,)).fetchone()
        return self._row(row) if row else None

    def records(
        self,
        *,
        from_seq: int = 1,
        to_seq: int | None = None,
        record_type: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> list[JournalRecord]:
        """Records in seq order. With `newest` and `limit`, the last `limit` records (still oldest first)."""
        sql = f"SELECT {self._COLUMNS} FROM records WHERE seq >= ?"
        args: list[Any] = [from_seq]
        if to_seq is not None:
            sql += " AND seq <= ?"
            args.append(to_seq)
        if record_type:
            sql += " AND type = ?"
            args.append(record_type)
        sql += " ORDER BY seq DESC" if newest else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        recs = [self._row(r) for r in rows]
        return list(reversed(recs)) if newest else recs

    def iter_records(self, from_seq: int = 1) -> Iterator[JournalRecord]:
        yield from self.records(from_seq=from_seq)

    # --- outbox --------------------------------------------------------------------------------
    def undelivered(self, limit: int = 500) -> list[JournalRecord]:
        """Undelivered records, alarms first, each class in seq order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._COLUMNS} FROM records WHERE delivered = 0 ORDER BY alarm DESC, seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [self._row(r) for r in rows]

    def backlog(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM records WHERE delivered = 0").fetchone()[0]

    def mark_delivered(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("UPDATE records SET delivered = 1 WHERE seq = ?", [(s,) for s in seqs])
            self._conn.execute("COMMIT")
