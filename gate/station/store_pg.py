"""The station store on PostgreSQL (psycopg 3 + psycopg_pool): the interface of `store_sqlite`, for
several `serve` instances sharing one database.

Exactly once per (gate, seq) is the primary key and `INSERT ... ON CONFLICT DO NOTHING`; a second copy
with another id is kept aside in `conflicts`. A batch locks its gates' rows (sorted, `FOR UPDATE`)
before touching them, so two consumers storing records of one gate take turns on its sequence marks
the way `BEGIN IMMEDIATE` makes them take turns on SQLite, and cannot deadlock each other.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

import psycopg
from psycopg_pool import ConnectionPool

from gate.clock import Clock, SystemClock
from gate.core.errors import InputError, StorageError
from gate.core.timefmt import format_ts
from gate.station.store_model import (CONFLICT, DUPLICATE, INVALID, NEW, Gap, GateState, RecordRefused,
                                      StoredRecord, gate_state_of, stored_records, validate_last_seq)
from gate.station.store_schema import migrate

# What a record's own data can make psycopg or json raise (text with NUL, not UTF-8, out of range);
# a failing server (OperationalError) is a StorageError for the batch instead.
_DATA_ERRORS = (OverflowError, ValueError, TypeError, KeyError, psycopg.DataError, psycopg.IntegrityError)
_GATE_COLUMNS = "gate, online, status_at, reported_last_seq, contiguous, max_seq, status_verified"


def shown_url(url: str) -> str:
    """The URL without a password (never logged or shown)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PgStationStore:
    """PostgreSQL store of the station side, same methods and outcomes as `StationStore`. The password
    comes from the libpq environment (PGPASSWORD, ~/.pgpass), never from the URL in the config."""

    def __init__(self, url: str, *, clock: Clock | None = None, backfill_new_gates: bool = True,
                 max_connections: int = 4):
        self.url = url
        self.path = shown_url(url)  # named in errors like the SQLite store's path
        self._clock = clock or SystemClock()
        self._backfill = backfill_new_gates
        self.last_invalid = ""
        self._pool: ConnectionPool | None = None
        try:
            # One direct connection first: a wrong host or database fails at once with libpq's reason,
            # where the pool would retry until its timeout and say only that it timed out.
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                migrate(conn)
            pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=False,
                                  kwargs={"autocommit": True})
            self._pool = pool
            pool.open(wait=True, timeout=10.0)
        except Exception as exc:  # psycopg.Error (refused, unknown database, failed migration), PoolTimeout
            self.close()
            raise StorageError(f"{self.path}: cannot open station store: {exc}") from exc

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> "PgStationStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise StorageError(f"{self.path}: station store is closed")
        return self._pool

    def _now(self) -> str:
        return format_ts(self._clock.wall())

    def _write(self, fn, *args):
        try:
            with self.pool.connection() as conn, conn.transaction():
                return fn(conn, *args)
        except RecordRefused:
            raise
        except psycopg.OperationalError as exc:
            raise StorageError(f"{self.path}: write failed: {exc}") from exc

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self.pool.connection() as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError as exc:
            raise StorageError(f"{self.path}: read failed: {exc}") from exc

    # -- records ---------------------------------------------------------------------------------
    def add_record(self, gate: str, kind: str, record: dict[str, Any], *, verified: bool = True) -> str:
        """Store one validated record; NEW, DUPLICATE or CONFLICT as `StationStore.add_record`."""
        return self.add_records([(gate, kind, record, verified)])[0]

    def add_records(self, items: Iterable[tuple]) -> list[str]:
        """Store many records in one transaction; the rules of `StationStore.add_records` (unverified
        records never take a seq from verified ones, INVALID never costs the neighbours)."""
        items = [(*it, True) if len(it) == 3 else tuple(it) for it in items]
        if not items:
            return []
        try:
            return self._write(self._add_records, items, False)
        except RecordRefused:
            return self._write(self._add_records, items, True)

    def _add_records(self, conn, items, savepoints: bool) -> list[str]:
        now = self._now()
        self._lock_gates(conn, sorted({gate for gate, *_ in items}))
        outcomes: list[str] = []
        touched: dict[str, int] = {}
        for gate, kind, rec, verified in items:
            try:
                if savepoints:
                    with conn.transaction():  # a savepoint inside the batch's transaction
                        outcome = self._add_one(conn, now, gate, kind, rec, bool(verified))
                else:
                    outcome = self._add_one(conn, now, gate, kind, rec, bool(verified))
            except _DATA_ERRORS as exc:
                if not savepoints:
                    raise RecordRefused() from exc
                self.last_invalid = f"{gate} seq {str(rec.get('seq'))[:40]}: {type(exc).__name__}: {exc}"
                outcome = INVALID
            outcomes.append(outcome)
            if outcome == NEW and verified:
                touched[gate] = max(touched.get(gate, 0), rec["seq"])
        for gate, top in touched.items():
            conn.execute("UPDATE gates SET max_seq = GREATEST(max_seq, %s) WHERE gate=%s", (top, gate))
            self._advance(conn, gate)
        return outcomes

    def _lock_gates(self, conn, gates: list[str]) -> None:
        """Make and lock the gates' rows in one order, so concurrent batches queue instead of deadlocking.
        A row made here has floor 0, which `_ensure_gate` then sets exactly as for a new row."""
        for gate in gates:
            conn.execute("INSERT INTO gates (gate) VALUES (%s) ON CONFLICT DO NOTHING", (gate,))
        conn.execute("SELECT gate FROM gates WHERE gate = ANY(%s) ORDER BY gate FOR UPDATE", (gates,))

    def _add_one(self, conn, now: str, gate: str, kind: str, rec: dict[str, Any], verified: bool) -> str:
        seq = rec["seq"]
        self._ensure_gate(conn, gate, first_seq=seq, verified=verified)
        payload = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        row = (rec["id"], kind, rec["type"], rec["ts"], bool(rec.get("historical")), now, payload, verified)
        cur = conn.execute("INSERT INTO records (gate, seq, id, kind, type, ts, historical, received_at, payload, "
                           "verified) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (gate, seq) DO NOTHING",
                           (gate, seq, *row))
        if cur.rowcount:
            return NEW
        existing_id, existing_verified, existing_payload = conn.execute(
            "SELECT id, verified, payload FROM records WHERE gate=%s AND seq=%s", (gate, seq)).fetchone()
        if verified and not existing_verified:
            # The gate's own record takes its seq back from an unverified (forged or keyless) one.
            conn.execute("INSERT INTO conflicts (gate, seq, received_at, payload) VALUES (%s,%s,%s,%s)",
                         (gate, seq, now, existing_payload))
            conn.execute("UPDATE records SET id=%s, kind=%s, type=%s, ts=%s, historical=%s, received_at=%s, "
                         "payload=%s, verified=%s WHERE gate=%s AND seq=%s", (*row, gate, seq))
            return NEW
        if existing_id == rec["id"]:
            return DUPLICATE
        conn.execute("INSERT INTO conflicts (gate, seq, received_at, payload) VALUES (%s,%s,%s,%s)",
                     (gate, seq, now, payload))
        return CONFLICT

    def _ensure_gate(self, conn, gate: str, *, first_seq: int, verified: bool = True) -> None:
        floor = 0 if self._backfill or not verified else max(first_seq - 1, 0)
        conn.execute("INSERT INTO gates (gate, floor, contiguous) VALUES (%s,%s,%s) ON CONFLICT DO NOTHING",
                     (gate, floor, floor))
        if floor and verified:
            conn.execute("UPDATE gates SET floor=%s, contiguous=%s WHERE gate=%s AND floor=0 AND contiguous=0 "
                         "AND max_seq=0 AND reported_last_seq=0", (floor, floor, gate))

    def _advance(self, conn, gate: str) -> None:
        """Move the gate's contiguous mark over every verified seq that follows it (one query: the
        first hole after the mark, found with LEAD)."""
        (cur,) = conn.execute("SELECT contiguous FROM gates WHERE gate=%s", (gate,)).fetchone()
        row = conn.execute(
            "SELECT seq FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt FROM records "
            "WHERE gate=%s AND seq>%s AND verified) s WHERE nxt IS NULL OR nxt > seq + 1 ORDER BY seq LIMIT 1",
            (gate, cur)).fetchone()
        first = conn.execute("SELECT MIN(seq) FROM records WHERE gate=%s AND seq>%s AND verified",
                             (gate, cur)).fetchone()[0]
        if first == cur + 1 and row is not None:
            conn.execute("UPDATE gates SET contiguous=%s WHERE gate=%s", (row[0], gate))

    # -- status ----------------------------------------------------------------------------------
    def set_status(self, gate: str, status: dict[str, Any], *, verified: bool = True) -> GateState:
        """Record a status (or last-will) message, as `StationStore.set_status`."""
        if not isinstance(status, dict) or not isinstance(status.get("online"), bool):
            raise InputError(f"{gate}/status: online must be a boolean")
        last = validate_last_seq(gate, status.get("last_seq"))
        if not verified:
            last = None

        def write(conn) -> None:
            self._ensure_gate(conn, gate, first_seq=(last or 0) + 1, verified=verified)
            conn.execute("UPDATE gates SET online=%s, status_at=%s, status=%s, status_verified=%s, "
                         "reported_last_seq=GREATEST(reported_last_seq, %s) WHERE gate=%s",
                         (status["online"], self._now(), json.dumps(status), verified, last or 0, gate))

        self._write(write)
        return self.gate_state(gate)  # type: ignore[return-value]

    def gate_state(self, gate: str) -> GateState | None:
        rows = self._read(f"SELECT {_GATE_COLUMNS} FROM gates WHERE gate=%s", (gate,))
        return gate_state_of(rows[0]) if rows else None

    def gate_states(self) -> list[GateState]:
        return [gate_state_of(r) for r in self._read(f"SELECT {_GATE_COLUMNS} FROM gates ORDER BY gate")]

    # -- gaps ------------------------------------------------------------------------------------
    def gaps(self, gate: str | None = None, *, limit: int = 1000) -> list[Gap]:
        """Missing seq ranges, as `StationStore.gaps`."""
        if gate is None:
            names = [g for (g,) in self._read("SELECT gate FROM gates ORDER BY gate")]
            return [gap for g in names for gap in self.gaps(g, limit=limit)]
        rows = self._read("SELECT contiguous, max_seq, reported_last_seq FROM gates WHERE gate=%s", (gate,))
        if not rows:
            return []
        contiguous, max_seq, reported = rows[0]
        top = max(max_seq, reported)
        if top <= contiguous:
            return []
        out: list[Gap] = []
        first = self._read("SELECT MIN(seq) FROM records WHERE gate=%s AND seq>%s AND verified",
                           (gate, contiguous))[0][0]
        if first is None:
            return [Gap(gate, contiguous + 1, top)]
        if first > contiguous + 1:
            out.append(Gap(gate, contiguous + 1, first - 1))
        holes = self._read(
            "SELECT seq, nxt FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt FROM records "
            "WHERE gate=%s AND seq>=%s AND verified) s WHERE nxt > seq + 1 ORDER BY seq LIMIT %s",
            (gate, first, limit))
        out.extend(Gap(gate, s + 1, n - 1) for s, n in holes)
        if reported > max_seq:
            out.append(Gap(gate, max_seq + 1, reported))
        return out[:limit]

    def note_replay(self, gate: str, from_seq: int, to_seq: int, cmd_id: str) -> None:
        """Remember that a replay was asked."""
        self._write(lambda conn: conn.execute("INSERT INTO replay_requests VALUES (%s,%s,%s,%s,%s)",
                                              (gate, from_seq, to_seq, cmd_id, self._now())))

    def replay_history(self, gate: str) -> tuple[int, str | None]:
        """(number of replays asked of `gate`, when the last one was asked)."""
        return tuple(self._read("SELECT COUNT(*), MAX(asked_at) FROM replay_requests WHERE gate=%s", (gate,))[0])

    # -- reading ---------------------------------------------------------------------------------
    def count(self, gate: str | None = None) -> int:
        if gate is None:
            return self._read("SELECT COUNT(*) FROM records")[0][0]
        return self._read("SELECT COUNT(*) FROM records WHERE gate=%s", (gate,))[0][0]

    def seqs(self, gate: str) -> list[int]:
        return [s for (s,) in self._read("SELECT seq FROM records WHERE gate=%s ORDER BY seq", (gate,))]

    def recent(self, kind: str | None = None, *, limit: int = 20, unacked_only: bool = False) -> list[StoredRecord]:
        """Newest received first. `unacked_only` keeps records no officer has acknowledged."""
        sql = ('SELECT r.gate, r.seq, r.kind, r.type, r.ts, r.historical, r.received_at, r.payload, a."by", '
               "r.verified FROM records r LEFT JOIN acks a ON a.gate=r.gate AND a.seq=r.seq")
        where, params = [], []
        if kind:
            where.append("r.kind=%s")
            params.append(kind)
        if unacked_only:
            where.append('a."by" IS NULL')
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.received_at DESC, r.rid DESC LIMIT %s"
        rows = self._read(sql, (*params, limit))
        return stored_records(rows)

    def unverified_among(self, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (gate, seq) are stored without a valid MAC."""
        keys = list(keys)
        if not keys:
            return set()
        rows = self._read("SELECT r.gate, r.seq FROM records r JOIN unnest(%s::text[], %s::bigint[]) AS k(gate, seq) "
                          "ON r.gate=k.gate AND r.seq=k.seq WHERE NOT r.verified",
                          ([g for g, _ in keys], [s for _, s in keys]))
        return {(g, s) for g, s in rows}

    def conflicts(self, gate: str | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        """The records kept aside: (gate, seq, payload) of each second copy that lost its seq, oldest first."""
        sql = "SELECT gate, seq, payload FROM conflicts" + (" WHERE gate=%s" if gate else "") + " ORDER BY cid"
        return [(g, s, json.loads(p)) for g, s, p in self._read(sql, (gate,) if gate else ())]

    # -- acknowledgements ------------------------------------------------------------------------
    def ack(self, gate: str, seq: int, *, by: str, cmd_id: str | None = None) -> bool:
        """Record an officer's acknowledgement of alarm `seq`; False if it was already acknowledged."""
        def write(conn) -> bool:
            cur = conn.execute('INSERT INTO acks (gate, seq, "by", at, cmd_id) VALUES (%s,%s,%s,%s,%s) '
                               "ON CONFLICT DO NOTHING", (gate, seq, by, self._now(), cmd_id))
            if not cur.rowcount and cmd_id:
                conn.execute("UPDATE acks SET cmd_id=%s WHERE gate=%s AND seq=%s", (cmd_id, gate, seq))
            return bool(cur.rowcount)
        return self._write(write)

    def set_ack_result(self, gate: str, seq: int, *, ok: bool, error: str | None = None) -> None:
        self._write(lambda conn: conn.execute("UPDATE acks SET gate_ok=%s, gate_error=%s WHERE gate=%s AND seq=%s",
                                              (ok, error, gate, seq)))

    def withdraw_ack(self, gate: str, seq: int) -> None:
        """Forget an acknowledgement the gate refused (no such active alarm): it stays unacknowledged."""
        self._write(lambda conn: conn.execute("DELETE FROM acks WHERE gate=%s AND seq=%s", (gate, seq)))

    def acked_by(self, gate: str, seq: int) -> str | None:
        rows = self._read('SELECT "by" FROM acks WHERE gate=%s AND seq=%s', (gate, seq))
        return rows[0][0] if rows else None
