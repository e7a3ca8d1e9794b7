"""The station's SQLite store: every record received, deduplicated by (gate, seq); per-gate sequence
tracking and gaps; gate online state; officers' acknowledgements; replay requests asked.

Several console processes may share one store file (WAL, `BEGIN IMMEDIATE`, busy timeout): that is how
instances splitting a shared subscription see one sequence per gate and do not ask for replays of
records a sibling already stored. Each instance opens its own `StationStore`; one object is used by one
thread at a time. `store_pg.PgStationStore` is the same interface on PostgreSQL.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from gate.clock import Clock, SystemClock
from gate.core.errors import InputError, StorageError
from gate.core.timefmt import format_ts
from gate.station.store_model import (CONFLICT, DUPLICATE, INVALID, NEW, Gap, GateState, RecordRefused,
                                      StoredRecord, gate_state_of, stored_records, validate_last_seq)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    gate TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
    type TEXT NOT NULL, ts TEXT NOT NULL, historical INTEGER NOT NULL,
    received_at TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (gate, seq));
CREATE INDEX IF NOT EXISTS records_kind ON records (kind, received_at);
CREATE TABLE IF NOT EXISTS gates (
    gate TEXT PRIMARY KEY, online INTEGER, status_at TEXT, status TEXT,
    reported_last_seq INTEGER NOT NULL DEFAULT 0,
    floor INTEGER NOT NULL DEFAULT 0,       -- seqs at or below are not expected (see backfill_new_gates)
    contiguous INTEGER NOT NULL DEFAULT 0,  -- every seq in (floor, contiguous] is stored
    max_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS acks (
    gate TEXT NOT NULL, seq INTEGER NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
    cmd_id TEXT, gate_ok INTEGER, gate_error TEXT, PRIMARY KEY (gate, seq));
CREATE TABLE IF NOT EXISTS replay_requests (
    gate TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL,
    cmd_id TEXT NOT NULL, asked_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conflicts (
    gate TEXT NOT NULL, seq INTEGER NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL);
"""
# Columns added after the first release: (table, column, declaration). Added on open when missing, so
# an older store file keeps working. Rows from before record MACs existed count as verified.
_ADDED_COLUMNS = (
    ("records", "verified", "INTEGER NOT NULL DEFAULT 1"),  # 1: the record's MAC matched the gate's key
    ("gates", "status_verified", "INTEGER"),  # the last status's MAC matched; NULL: no status yet
)


# What a record's own data can make SQLite or json raise (not a failing database: OperationalError).
_DATA_ERRORS = (OverflowError, ValueError, TypeError, KeyError, sqlite3.DataError, sqlite3.InterfaceError,
                sqlite3.IntegrityError, sqlite3.ProgrammingError)


class StationStore:
    """SQLite (WAL) store of the station side. `backfill_new_gates=False` makes a newly seen gate's
    history start at the first seq seen instead of at 1."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None, backfill_new_gates: bool = True):
        self.path = str(path)
        self._clock = clock or SystemClock()
        self._backfill = backfill_new_gates
        self.last_invalid = ""  # why the last record refused by SQLite was refused (for the log)
        self._lock = threading.RLock()  # guards misuse across threads; sqlite3 objects are not thread-safe
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, timeout=10.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL: a power cut may lose the last transactions, never corrupt; the gate still
            # holds those records and the gap logic asks for them again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._add_missing_columns()
        except sqlite3.Error as exc:
            self.close()
            raise StorageError(f"{self.path}: cannot open station store: {exc}") from exc

    def _add_missing_columns(self) -> None:
        """Bring an older store file up to the current columns. Under BEGIN IMMEDIATE, so two consoles
        opening one old file at once add each column once."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for table, column, decl in _ADDED_COLUMNS:
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()

    def __enter__(self) -> "StationStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"{self.path}: station store is closed")
        return self._db

    def _now(self) -> str:
        return format_ts(self._clock.wall())

    def _write(self, fn, *args):
        with self._lock:
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(db, *args)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: write failed: {exc}") from exc

    # -- records ---------------------------------------------------------------------------------
    def add_record(self, gate: str, kind: str, record: dict[str, Any], *, verified: bool = True) -> str:
        """Store one validated record; returns NEW, DUPLICATE (same id already stored) or CONFLICT
        (same (gate, seq), different id: kept aside in `conflicts`, the first one stays)."""
        return self.add_records([(gate, kind, record, verified)])[0]

    def add_records(self, items: Iterable[tuple]) -> list[str]:
        """Store many records in one transaction (the consumer's batch path): items are
        `(gate, kind, record)` or `(gate, kind, record, verified)` (3-tuples count as verified).
        Records must already pass `validate_record`.

        Unverified records (no valid MAC) are stored with `verified = 0` and never take a seq from a
        verified one: a verified record arriving for a seq held by an unverified one replaces it (the
        unverified copy moves to `conflicts`, the outcome is NEW); an unverified record for a seq held
        by a verified one is a DUPLICATE (same id) or a CONFLICT. Only verified records count for the
        sequence (contiguous mark, highest seq, gaps), so a forged record can neither fill a gap nor
        open one. A record SQLite refuses for its data (an integer beyond 64 bits, text that is not
        UTF-8) is INVALID and never costs its neighbours: the batch is then written again with a
        savepoint per record. A failing database (locked, I/O) is a StorageError for the batch."""
        items = [(*it, True) if len(it) == 3 else tuple(it) for it in items]
        if not items:
            return []
        try:
            return self._write(self._add_records, items, False)  # the common case: no savepoints
        except RecordRefused:
            return self._write(self._add_records, items, True)

    def _add_records(self, db: sqlite3.Connection, items, savepoints: bool) -> list[str]:
        now = self._now()
        outcomes: list[str] = []
        touched: dict[str, int] = {}
        for gate, kind, rec, verified in items:
            if savepoints:
                db.execute("SAVEPOINT one_record")
            try:
                outcome = self._add_one(db, now, gate, kind, rec, bool(verified))
                if savepoints:
                    db.execute("RELEASE one_record")
            except _DATA_ERRORS as exc:
                if not savepoints:
                    raise RecordRefused() from exc  # _write rolls the batch back; add_records retries
                db.execute("ROLLBACK TO one_record")
                db.execute("RELEASE one_record")
                self.last_invalid = f"{gate} seq {str(rec.get('seq'))[:40]}: {type(exc).__name__}: {exc}"
                outcome = INVALID
            outcomes.append(outcome)
            if outcome == NEW and verified:
                touched[gate] = max(touched.get(gate, 0), rec["seq"])
        for gate, top in touched.items():
            db.execute("UPDATE gates SET max_seq = MAX(max_seq, ?) WHERE gate=?", (top, gate))
            self._advance(db, gate)
        return outcomes

    def _add_one(self, db: sqlite3.Connection, now: str, gate: str, kind: str, rec: dict[str, Any],
                 verified: bool) -> str:
        seq = rec["seq"]
        self._ensure_gate(db, gate, first_seq=seq, verified=verified)
        payload = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        row = (rec["id"], kind, rec["type"], rec["ts"], 1 if rec.get("historical") else 0, now, payload, int(verified))
        cur = db.execute("INSERT OR IGNORE INTO records (gate, seq, id, kind, type, ts, historical, received_at, "
                         "payload, verified) VALUES (?,?,?,?,?,?,?,?,?,?)", (gate, seq, *row))
        if cur.rowcount:
            return NEW
        existing_id, existing_verified, existing_payload = db.execute(
            "SELECT id, verified, payload FROM records WHERE gate=? AND seq=?", (gate, seq)).fetchone()
        if verified and not existing_verified:
            # The gate's own record takes its seq back from an unverified (forged or keyless) one.
            db.execute("INSERT INTO conflicts VALUES (?,?,?,?)", (gate, seq, now, existing_payload))
            db.execute("UPDATE records SET id=?, kind=?, type=?, ts=?, historical=?, received_at=?, payload=?, "
                       "verified=? WHERE gate=? AND seq=?", (*row, gate, seq))
            return NEW
        if existing_id == rec["id"]:
            return DUPLICATE
        db.execute("INSERT INTO conflicts VALUES (?,?,?,?)", (gate, seq, now, payload))
        return CONFLICT

    def _ensure_gate(self, db: sqlite3.Connection, gate: str, *, first_seq: int, verified: bool = True) -> None:
        floor = 0 if self._backfill or not verified else max(first_seq - 1, 0)
        db.execute("INSERT OR IGNORE INTO gates (gate, floor, contiguous) VALUES (?,?,?)", (gate, floor, floor))
        if floor and verified:
            # A row made by unverified traffic alone has no floor yet: the first verified seq decides.
            db.execute("UPDATE gates SET floor=?, contiguous=? WHERE gate=? AND floor=0 AND contiguous=0 "
                       "AND max_seq=0 AND reported_last_seq=0", (floor, floor, gate))

    def _advance(self, db: sqlite3.Connection, gate: str) -> None:
        """Move the gate's contiguous mark over every stored seq that follows it."""
        (cur,) = db.execute("SELECT contiguous FROM gates WHERE gate=?", (gate,)).fetchone()
        start = cur
        while True:
            rows = db.execute("SELECT seq FROM records WHERE gate=? AND seq>? AND verified=1 ORDER BY seq LIMIT 5000",
                              (gate, cur)).fetchall()
            for (seq,) in rows:
                if seq != cur + 1:
                    break
                cur = seq
            else:
                if len(rows) == 5000:
                    continue
            break
        if cur != start:
            db.execute("UPDATE gates SET contiguous=? WHERE gate=?", (cur, gate))

    # -- status ----------------------------------------------------------------------------------
    def set_status(self, gate: str, status: dict[str, Any], *, verified: bool = True) -> GateState:
        """Record a status (or last-will) message. `last_seq` only ever raises the known top, and only
        from a verified status: an unverified one updates the online state (flagged
        `status_verified = False`) but can never open a gap."""
        if not isinstance(status, dict) or not isinstance(status.get("online"), bool):
            raise InputError(f"{gate}/status: online must be a boolean")
        last = validate_last_seq(gate, status.get("last_seq"))
        if not verified:
            last = None

        def write(db: sqlite3.Connection) -> None:
            self._ensure_gate(db, gate, first_seq=(last or 0) + 1, verified=verified)
            db.execute("UPDATE gates SET online=?, status_at=?, status=?, status_verified=?, "
                       "reported_last_seq=MAX(reported_last_seq, ?) WHERE gate=?",
                       (int(status["online"]), self._now(), json.dumps(status), int(verified), last or 0, gate))

        self._write(write)
        return self.gate_state(gate)  # type: ignore[return-value]

    def gate_state(self, gate: str) -> GateState | None:
        with self._lock:
            row = self.db.execute("SELECT gate, online, status_at, reported_last_seq, contiguous, max_seq, status_verified "
                                  "FROM gates WHERE gate=?", (gate,)).fetchone()
        return gate_state_of(row) if row else None

    def gate_states(self) -> list[GateState]:
        with self._lock:
            rows = self.db.execute("SELECT gate, online, status_at, reported_last_seq, contiguous, max_seq, status_verified "
                                   "FROM gates ORDER BY gate").fetchall()
        return [gate_state_of(r) for r in rows]

    # -- gaps ------------------------------------------------------------------------------------
    def gaps(self, gate: str | None = None, *, limit: int = 1000) -> list[Gap]:
        """Missing seq ranges: between a gate's contiguous mark and the highest seq known to exist
        (the highest stored, or `last_seq` from its status), at most `limit` ranges per gate."""
        with self._lock:
            db = self.db
            if gate is None:
                names = [g for (g,) in db.execute("SELECT gate FROM gates ORDER BY gate")]
                return [gap for g in names for gap in self.gaps(g, limit=limit)]
            row = db.execute("SELECT contiguous, max_seq, reported_last_seq FROM gates WHERE gate=?",
                             (gate,)).fetchone()
            if row is None:
                return []
            contiguous, max_seq, reported = row
            top = max(max_seq, reported)
            if top <= contiguous:
                return []
            out: list[Gap] = []
            first = db.execute("SELECT MIN(seq) FROM records WHERE gate=? AND seq>? AND verified=1",
                               (gate, contiguous)).fetchone()[0]
            if first is None:
                return [Gap(gate, contiguous + 1, top)]
            if first > contiguous + 1:
                out.append(Gap(gate, contiguous + 1, first - 1))
            holes = db.execute(
                "SELECT seq, nxt FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt FROM records "
                "WHERE gate=? AND seq>=? AND verified=1) WHERE nxt > seq + 1 LIMIT ?", (gate, first, limit)).fetchall()
            out.extend(Gap(gate, s + 1, n - 1) for s, n in holes)
            if reported > max_seq:
                out.append(Gap(gate, max_seq + 1, reported))
            return out[:limit]

    def note_replay(self, gate: str, from_seq: int, to_seq: int, cmd_id: str) -> None:
        """Remember that a replay was asked (shown by `gatectl station gaps`)."""
        self._write(lambda db: db.execute("INSERT INTO replay_requests VALUES (?,?,?,?,?)",
                                          (gate, from_seq, to_seq, cmd_id, self._now())))

    def replay_history(self, gate: str) -> tuple[int, str | None]:
        """(number of replays asked of `gate`, when the last one was asked)."""
        with self._lock:
            return self.db.execute("SELECT COUNT(*), MAX(asked_at) FROM replay_requests WHERE gate=?",
                                   (gate,)).fetchone()

    # -- reading ---------------------------------------------------------------------------------
    def count(self, gate: str | None = None) -> int:
        with self._lock:
            if gate is None:
                return self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            return self.db.execute("SELECT COUNT(*) FROM records WHERE gate=?", (gate,)).fetchone()[0]

    def seqs(self, gate: str) -> list[int]:
        with self._lock:
            return [s for (s,) in self.db.execute("SELECT seq FROM records WHERE gate=? ORDER BY seq", (gate,))]

    def recent(self, kind: str | None = None, *, limit: int = 20, unacked_only: bool = False) -> list[StoredRecord]:
        """Newest received first. `unacked_only` keeps records no officer has acknowledged."""
        sql = ("SELECT r.gate, r.seq, r.kind, r.type, r.ts, r.historical, r.received_at, r.payload, a.by, r.verified "
               "FROM records r LEFT JOIN acks a ON a.gate=r.gate AND a.seq=r.seq")
        where, params = [], []
        if kind:
            where.append("r.kind=?")
            params.append(kind)
        if unacked_only:
            where.append("a.by IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.received_at DESC, r.rowid DESC LIMIT ?"
        with self._lock:
            rows = self.db.execute(sql, (*params, limit)).fetchall()
        return stored_records(rows)

    def unverified_among(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (gate, seq) are stored without a valid MAC (for views built elsewhere)."""
        out: set[tuple[str, int]] = set()
        with self._lock:
            for gate, seq in keys:
                row = self.db.execute("SELECT verified FROM records WHERE gate=? AND seq=?", (gate, seq)).fetchone()
                if row is not None and not row[0]:
                    out.add((gate, seq))
        return out

    # -- acknowledgements ------------------------------------------------------------------------
    def ack(self, gate: str, seq: int, *, by: str, cmd_id: str | None = None) -> bool:
        """Record an officer's acknowledgement of alarm `seq`; False if it was already acknowledged."""
        def write(db: sqlite3.Connection) -> bool:
            cur = db.execute("INSERT OR IGNORE INTO acks (gate, seq, by, at, cmd_id) VALUES (?,?,?,?,?)",
                             (gate, seq, by, self._now(), cmd_id))
            if not cur.rowcount and cmd_id:
                db.execute("UPDATE acks SET cmd_id=? WHERE gate=? AND seq=?", (cmd_id, gate, seq))
            return bool(cur.rowcount)
        return self._write(write)

    def set_ack_result(self, gate: str, seq: int, *, ok: bool, error: str | None = None) -> None:
        self._write(lambda db: db.execute("UPDATE acks SET gate_ok=?, gate_error=? WHERE gate=? AND seq=?",
                                          (int(ok), error, gate, seq)))

    def withdraw_ack(self, gate: str, seq: int) -> None:
        """Forget an acknowledgement the gate refused (no such active alarm): it stays unacknowledged."""
        self._write(lambda db: db.execute("DELETE FROM acks WHERE gate=? AND seq=?", (gate, seq)))

    def conflicts(self, gate: str | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        """The records kept aside: (gate, seq, payload) of each second copy that lost its seq, oldest first."""
        sql = "SELECT gate, seq, payload FROM conflicts" + (" WHERE gate=?" if gate else "") + " ORDER BY rowid"
        with self._lock:
            rows = self.db.execute(sql, (gate,) if gate else ()).fetchall()
        return [(g, s, json.loads(p)) for g, s, p in rows]

    def acked_by(self, gate: str, seq: int) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT by FROM acks WHERE gate=? AND seq=?", (gate, seq)).fetchone()
        return row[0] if row else None

