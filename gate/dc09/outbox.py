"""The durable DC-09 outbox (SQLite, WAL, its own file): every report waits here until its
receiver ACKs it, in the order it was queued, and survives restarts and receiver outages.

One row per (receiver, source): a record queued twice (a redelivery, a replay) is sent once.
The links table keeps each receiver's next sequence number and its last reported status, so a
restart continues the sequence and `receivers status` can read the state from another process.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.core.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dc09_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    source TEXT NOT NULL,
    token TEXT NOT NULL,
    account TEXT NOT NULL,
    data TEXT NOT NULL,
    code TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    done_at TEXT,
    UNIQUE(receiver, source)
);
CREATE INDEX IF NOT EXISTS dc09_outbox_pending ON dc09_outbox(receiver, state, id);
CREATE TABLE IF NOT EXISTS dc09_links (
    receiver TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT '{}'
);
"""

PENDING, ACKED, REJECTED = "pending", "acked", "rejected"


@dataclass(frozen=True)
class Item:
    """One queued report."""

    id: int
    receiver: str
    source: str
    token: str
    account: str
    data: str
    code: str
    attempts: int


class Outbox:
    """Thread-safe: the forwarder enqueues from its thread, each receiver link takes from its own.
    Every write is one short transaction; nothing here waits on the network."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=10.0, check_same_thread=False,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # an alarm queued is on disk
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"{self.path}: cannot open the DC-09 outbox: {exc}") from exc

    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            if self._conn is None:
                raise StorageError(f"{self.path}: the DC-09 outbox is closed")
            try:
                return self._conn.execute(sql, args)
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc

    def _read(self, sql: str, args: tuple = ()) -> list:
        return self._write(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- queue ------------------------------------------------------------------------------------
    def enqueue(self, receiver: str, source: str, token: str, account: str, data: str, code: str,
                queued_at: str) -> bool:
        """Queue a report; False when this receiver already has `source` (sent or waiting)."""
        return self.enqueue_many([(receiver, source, token, account, data, code, queued_at)]) == [True]

    def enqueue_many(self, rows: list[tuple[str, str, str, str, str, str, str]]) -> list[bool]:
        """Queue several reports (receiver, source, token, account, data, code, queued_at) in one
        transaction: one fsync for all receivers of a record. Each True when it was new."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageError(f"{self.path}: the DC-09 outbox is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
                fresh = [conn.execute("INSERT OR IGNORE INTO dc09_outbox(receiver, source, token, account, data, code,"
                                      " queued_at) VALUES (?, ?, ?, ?, ?, ?, ?)", row).rowcount == 1 for row in rows]
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"{self.path}: {exc}") from exc
            return fresh

    def next_pending(self, receiver: str) -> Item | None:
        rows = self._read("SELECT id, receiver, source, token, account, data, code, attempts FROM dc09_outbox"
                          " WHERE receiver = ? AND state = 'pending' ORDER BY id LIMIT 1", (receiver,))
        return Item(*rows[0]) if rows else None

    def attempted(self, item_id: int) -> None:
        """Count one unsuccessful send (no answer, NAK, a bad answer) of a report."""
        self._write("UPDATE dc09_outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def finish(self, item_id: int, state: str, at: str) -> None:
        """Mark a report acknowledged (ACKED) or refused by the receiver (REJECTED, a DUH)."""
        self._write("UPDATE dc09_outbox SET state = ?, done_at = ? WHERE id = ?", (state, at, item_id))

    def count(self, receiver: str, state: str = PENDING) -> int:
        return self._read("SELECT COUNT(*) FROM dc09_outbox WHERE receiver = ? AND state = ?",
                          (receiver, state))[0][0]

    def items(self, receiver: str, state: str | None = None) -> list[Item]:
        sql = "SELECT id, receiver, source, token, account, data, code, attempts FROM dc09_outbox WHERE receiver = ?"
        args: tuple = (receiver,)
        if state:
            sql, args = sql + " AND state = ?", (receiver, state)
        return [Item(*r) for r in self._read(sql + " ORDER BY id", args)]

    def last_seq_of(self, gate: str) -> int | None:
        """The highest record seq of `gate` ever queued here (sources are `GATE#SEQ`), or None."""
        rows = self._read("SELECT MAX(CAST(substr(source, ?) AS INTEGER)) FROM dc09_outbox WHERE source LIKE ? ESCAPE '\\'",
                          (len(gate) + 2, gate.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "#%"))
        return rows[0][0]

    def prune(self, keep: int = 10_000) -> int:
        """Forget the oldest finished reports beyond `keep` per outbox (pending ones are never deleted)."""
        cur = self._write("DELETE FROM dc09_outbox WHERE state != 'pending' AND id <= "
                          "(SELECT id FROM dc09_outbox WHERE state != 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?)",
                          (keep,))
        return cur.rowcount

    # --- links ------------------------------------------------------------------------------------
    def take_seq(self, receiver: str) -> int:
        """The receiver's next sequence number (0001-9999, rolling over), persisted before use."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageError(f"{self.path}: the DC-09 outbox is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT OR IGNORE INTO dc09_links(receiver) VALUES (?)", (receiver,))
                seq = conn.execute("SELECT next_seq FROM dc09_links WHERE receiver = ?", (receiver,)).fetchone()[0]
                seq = seq if 1 <= seq <= 9999 else 1
                conn.execute("UPDATE dc09_links SET next_seq = ? WHERE receiver = ?",
                             (1 if seq >= 9999 else seq + 1, receiver))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"{self.path}: {exc}") from exc
            return seq

    def save_status(self, receiver: str, status: dict[str, Any]) -> None:
        self._write("INSERT INTO dc09_links(receiver, status) VALUES (?, ?) ON CONFLICT(receiver) DO UPDATE"
                    " SET status = excluded.status", (receiver, json.dumps(status, sort_keys=True)))

    def saved_status(self) -> dict[str, dict[str, Any]]:
        """Every receiver's last saved status, by receiver name."""
        return {name: json.loads(text) for name, text in self._read("SELECT receiver, status FROM dc09_links")}
