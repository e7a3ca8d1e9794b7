"""The durable journal: every decision, refusal and alarm, in SQLite WAL (journal.db under storage.dir).

`seq` is gapless and never reused: it comes from a counter kept in the same transaction as the record,
so a crash or power cut can lose neither a committed record nor its number once it is on disk. The
journal is also the uplink's outbox (`delivered` flag; delivery never deletes a record) and remembers
the station commands it has seen (so a replayed command is refused even after a restart).

Durability, chosen per record class (see docs/uplink.md):
- security records (alarms, refusals, overrides, commands) and grants: `synchronous=FULL`, the WAL is
  fsynced before `append_many` returns, i.e. before the relay moves or anything is published;
- everything else (door edges, exit requests, daemon start/stop): `synchronous=NORMAL`, committed to
  the WAL (survives a crash or SIGKILL of the daemon) and fsynced lazily: at the next FULL commit, at a
  checkpoint, or by `ensure_durable()`, which the uplink calls before it publishes. So no record leaves
  the gate before it is on disk, and a seq the station has seen is never handed out again.

Across damage to journal.db itself (a bad page, a 0-byte or deleted file, a WAL that lost frames), the
high-water mark in journal.state (gate.store.seqmark) keeps the seq going up: `ensure_durable` raises
it before a seq leaves the gate, and every open starts the counter above it (gate.store.journal_open).
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gate.clock import Clock, SystemClock
from gate.core.errors import StorageError
from gate.core.records import is_alarm, is_security
from gate.core.timefmt import format_ts
from gate.store.failure_log import FailureLog
from gate.store.journal_open import OpeningMixin, Recovery, store_last_seq
from gate.store.journal_prune import PruneMixin, PruneResult  # noqa: F401  (PruneResult: re-exported)
from gate.store.seqmark import SeqMark, mark_path

log = logging.getLogger("gate.journal")

# Committed with an fsync before append returns (see the module docstring).
_EXTRA_DURABLE_TYPES = frozenset({"access_granted", "lockdown", "remote_unlock"})


def is_durable_type(record_type: str) -> bool:
    """True for the record classes committed with synchronous=FULL."""
    return is_security(record_type) or record_type in _EXTRA_DURABLE_TYPES


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


class Journal(OpeningMixin, PruneMixin):
    """Append-only, thread-safe record store whose seq never repeats or goes backwards (gapless
    unless journal.db was damaged: then it continues above the high-water mark).

    With `recover=True` (the daemon) a damaged journal.db is dealt with instead of refused: an unusable
    file is set aside as journal.db.damaged-<time> and a fresh journal starts above the high-water
    mark; a rolled-back one keeps its records and continues above the mark. `recovery` then says what
    was found (the daemon raises `device_fault device=journal`). Without it (CLI tools) the damage is
    a StorageError that says so."""

    def __init__(self, path: str | Path, gate_id: str, *, clock: Clock | None = None, recover: bool = False):
        self.path = Path(path)
        self.gate_id = gate_id
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.recovery: Recovery | None = None
        # Called with the StorageError when an append fails (the daemon wakes the retention: a full disk?).
        self.write_error_listeners: list = []
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # journal.state lives beside it
        self.mark = SeqMark(mark_path(self.path))
        self._reserve_failures = FailureLog(log, level=logging.ERROR)
        try:
            self._open(recover)
        except BaseException:
            self.mark.close()
            raise
        # Whatever an earlier (killed) process left in the WAL may still be only in the page cache.
        self._synced_seq = 0

    def close(self) -> None:
        """Sync what is committed, raise the high-water mark to it, close. Safe twice."""
        if self._conn is not None:
            try:
                self.ensure_durable(self._last_seq)
            except StorageError:
                log.error("%s: could not sync the journal at close", self.path, exc_info=True)
        with self._lock:
            self._drop_connection()
        self.mark.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # --- transactions ---------------------------------------------------------------------------
    def _set_sync(self, full: bool) -> None:
        level = "FULL" if full else "NORMAL"
        if self._sync != level:  # a pragma is only allowed between transactions, which is where we are
            self._conn.execute(f"PRAGMA synchronous={level}")
            self._sync = level

    @contextmanager
    def _tx(self, *, full: bool, what: str):
        """One write transaction under the lock (caller holds it), FULL or NORMAL sync."""
        if self._conn is None:
            raise StorageError(f"{self.path}: journal is closed")
        try:
            self._set_sync(full)
            self._conn.execute("BEGIN IMMEDIATE")
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            # Whatever failed (SQLite, a value json could not encode...), never leave the write
            # transaction open: every later append would fail behind it.
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"{self.path}: cannot {what}: {exc}") from exc
            if isinstance(exc, (TypeError, ValueError)):
                raise StorageError(f"{self.path}: cannot {what}: a field is not JSON: {exc}") from exc
            raise

    def append(self, record_type: str, fields: dict[str, Any] | None = None) -> JournalRecord:
        """Commit one record and return it. Raises StorageError when the disk refuses."""
        return self.append_many([(record_type, fields or {})])[0]

    def append_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[JournalRecord]:
        """Commit several records in one transaction, in order; FULL sync if any of them is durable-class."""
        if not items:
            return []
        try:
            return self._append_many(items)
        except StorageError as exc:
            self._persist_held_mode(items)
            for listener in self.write_error_listeners:
                try:
                    listener(exc)
                except Exception:
                    log.exception("write-error listener failed")
            raise

    def _append_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[JournalRecord]:
        ts = format_ts(self.clock.wall())
        full = any(is_durable_type(t) for t, _ in items)
        with self._lock:
            out: list[JournalRecord] = []
            with self._tx(full=full, what="write journal") as conn:
                # Another process (a CLI) may have appended since we loaded the counter.
                row = conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
                seq = max(self._last_seq, int(row[0]) if row else 0)
                self._reserve(seq + len(items))
                for record_type, fields in items:
                    seq += 1
                    rec = JournalRecord(seq, uuid.uuid4().hex, ts, record_type, self.gate_id, dict(fields))
                    conn.execute(
                        "INSERT INTO records(seq, id, ts, type, alarm, security, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (seq, rec.id, ts, record_type, int(rec.alarm), int(is_security(record_type)),
                         json.dumps(rec.fields, separators=(",", ":"), ensure_ascii=False)),
                    )
                    out.append(rec)
                store_last_seq(conn, seq)
            self._last_seq = seq
            if full:  # a FULL commit syncs the whole WAL, earlier NORMAL commits included
                self._synced_seq = seq
        self._persist_mode(out)
        return out

    def _reserve(self, seq: int) -> None:
        """The ceiling in journal.state covers `seq` before the commit uses it (one write per
        RESERVE_BLOCK seqs). If journal.state cannot be written the record is still committed: the
        exact mark (`ensure_durable`) still protects every seq that left the gate."""
        try:
            self.mark.reserve(seq)
        except StorageError as exc:
            self._reserve_failures.failed("cannot reserve seqs in journal.state", exc)
        else:
            self._reserve_failures.succeeded("journal.state takes writes again")

    def ensure_durable(self, seq: int) -> None:
        """Make sure every record up to `seq` is on disk (one fsync of the WAL, only when needed) and
        that the high-water mark covers it. The uplink calls this before a seq leaves the gate
        (a published record, the status's last_seq), so no seq anyone has seen is handed out again."""
        if seq <= self.mark.seq:
            return
        with self._lock:
            if self._conn is None:
                return
            if seq > self._synced_seq:
                target = self._last_seq
                self._sync_wal()
                self._synced_seq = target
            target = self._synced_seq  # a FULL commit synced it already: only the mark lags
        self.mark.advance(target)

    def _sync_wal(self) -> None:
        """fsync the WAL (the caller holds the lock). Only the WAL: commits live there until SQLite
        checkpoints (and syncs) them itself. Never open and close the database file itself here:
        closing any descriptor of it drops every POSIX lock this process holds on it, and another
        process could then checkpoint and delete the WAL under our open connection (SQLite's "how to
        corrupt" list, 2.2.1)."""
        wal = str(self.path) + "-wal"
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: everything is in the database file already
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(f"{wal}: fsync failed: {exc}") from exc
        finally:
            os.close(fd)

    # --- reading --------------------------------------------------------------------------------
    def _row(self, row) -> JournalRecord:
        seq, rid, ts, rtype, body, delivered = row
        return JournalRecord(seq, rid, ts, rtype, self.gate_id, json.loads(body), bool(delivered))

    _COLUMNS = "seq, id, ts, type, body, delivered"

    def _query(self, sql: str, args) -> list:
        with self._lock:
            if self._conn is None:
                raise StorageError(f"{self.path}: journal is closed")
            return self._conn.execute(sql, args).fetchall()

    def get(self, seq: int) -> JournalRecord | None:
        rows = self._query(f"SELECT {self._COLUMNS} FROM records WHERE seq = ?", (seq,))
        return self._row(rows[0]) if rows else None

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
        recs = [self._row(r) for r in self._query(sql, args)]
        return list(reversed(recs)) if newest else recs

    def iter_records(self, from_seq: int = 1) -> Iterator[JournalRecord]:
        yield from self.records(from_seq=from_seq)

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM records", ())[0][0]

    # --- outbox ---------------------------------------------------------------------------------
    def undelivered(self, limit: int = 500, *, alarm: bool | None = None, after_seq: int = 0) -> list[JournalRecord]:
        """Undelivered records with seq > `after_seq`; alarms first, each class in seq order.
        `alarm=True/False` restricts to one class."""
        sql = f"SELECT {self._COLUMNS} FROM records WHERE delivered = 0"
        args: list[Any] = []
        if alarm is not None:
            sql += " AND alarm = ?"
            args.append(int(alarm))
        sql += " AND seq > ? ORDER BY alarm DESC, seq LIMIT ?"
        args += [after_seq, limit]
        return [self._row(r) for r in self._query(sql, args)]

    def backlog(self) -> int:
        return self._query("SELECT COUNT(*) FROM records WHERE delivered = 0", ())[0][0]

    def mark_delivered(self, seqs: list[int]) -> None:
        """Flag records as acknowledged by the broker. NORMAL sync: a lost flag only means a duplicate."""
        if not seqs:
            return
        with self._lock:
            with self._tx(full=False, what="mark records delivered") as conn:
                conn.executemany("UPDATE records SET delivered = 1 WHERE seq = ?", [(s,) for s in seqs])

    # --- station commands seen --------------------------------------------------------------------
    def remember_command(self, cmd_id: str) -> bool:
        """Record a command id; False when it was seen before. Durable (FULL) so a restart remembers it."""
        with self._lock:
            with self._tx(full=True, what="remember command id") as conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO seen_commands(cmd_id, seen_at) VALUES (?, ?)",
                    (cmd_id, format_ts(self.clock.wall())),
                )
                fresh = cur.rowcount == 1
            self._synced_seq = self._last_seq
            return fresh

    def command_seen(self, cmd_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM seen_commands WHERE cmd_id = ?", (cmd_id,)))
