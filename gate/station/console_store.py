"""What the web console adds to the station's store file: claims, officers' acknowledgements with
their notes, the audit log of every officer action, and the board's queries over `records`.

An alarm is closed by the gate's own `alarm_acknowledged` record (`alarm_seq`), never by the station's
wish: a partial expression index finds that record for each alarm in one lookup, so a board over
10,000 stored alarms is one query.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Iterable

from gate.clock import Clock, SystemClock
from gate.core.timefmt import format_ts, parse_ts
from gate.station.board import AlarmRow, priority_sql
from gate.station.dbfile import StationDb
from gate.station.store import StationStore

MAX_NOTE = 500

# Only the gate's own word closes an alarm: an alarm_acknowledged without a valid MAC closes nothing.
_CLOSED_AT = ("(SELECT k.received_at FROM records k WHERE k.type='alarm_acknowledged' AND k.gate=r.gate "
              "AND json_extract(k.payload, '$.alarm_seq')=r.seq AND k.verified=1 LIMIT 1)")
_CLOSED_BY = ("(SELECT COALESCE(json_extract(k.payload, '$.officer'), json_extract(k.payload, '$.by')) "
              "FROM records k WHERE k.type='alarm_acknowledged' AND k.gate=r.gate "
              "AND json_extract(k.payload, '$.alarm_seq')=r.seq AND k.verified=1 LIMIT 1)")


class ConsoleStore(StationDb):
    """Claims, acknowledgements with notes, audit log; board, gate and history queries. An ack made
    with `gatectl station ack` (the store's `acks` table) counts as sent too, without a note."""

    WHAT = "console tables"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS claims (
        gate TEXT NOT NULL, seq INTEGER NOT NULL, officer TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (gate, seq));
    CREATE TABLE IF NOT EXISTS console_acks (
        gate TEXT NOT NULL, seq INTEGER NOT NULL, officer TEXT NOT NULL, note TEXT NOT NULL,
        at TEXT NOT NULL, cmd_id TEXT, error TEXT, PRIMARY KEY (gate, seq));
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, officer TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '');
    """

    def __init__(self, path, *, clock: Clock | None = None, gate_names: dict[str, str] | None = None,
                 gate_compounds: dict[str, str] | None = None, escalate_after_seconds: float = 300.0):
        StationStore(path).close()  # the records table the queries read must exist first
        super().__init__(path)
        self._clock = clock or SystemClock()
        self._names = gate_names or {}
        self._compounds = gate_compounds or {}
        self.escalate_after = escalate_after_seconds
        with self.transaction() as db:
            db.execute("CREATE INDEX IF NOT EXISTS console_ack_ref ON records "
                       "(gate, json_extract(payload, '$.alarm_seq')) WHERE type='alarm_acknowledged'")
            db.execute("CREATE INDEX IF NOT EXISTS console_records_gate ON records (gate, kind, seq)")

    def now(self) -> datetime:
        return self._clock.wall()

    # -- audit -----------------------------------------------------------------------------------
    def audit(self, officer: str, action: str, target: str = "", detail: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO audit (at, officer, action, target, detail) VALUES (?,?,?,?,?)",
                       (format_ts(self.now()), officer, action, target, detail[:2000]))

    def audit_log(self, *, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        rows = self.query("SELECT at, officer, action, target, detail FROM audit ORDER BY id DESC LIMIT ? OFFSET ?",
                          (limit, offset))
        return [dict(zip(("at", "officer", "action", "target", "detail"), r)) for r in rows]

    # -- claims and acknowledgements -------------------------------------------------------------
    def claim(self, gate: str, seq: int, officer: str) -> str:
        """Claim an alarm; returns the officer holding the claim (someone else's if already claimed)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO claims VALUES (?,?,?,?)", (gate, seq, officer, format_ts(self.now())))
            return db.execute("SELECT officer FROM claims WHERE gate=? AND seq=?", (gate, seq)).fetchone()[0]

    def record_ack(self, gate: str, seq: int, officer: str, note: str, cmd_id: str | None) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO claims VALUES (?,?,?,?)", (gate, seq, officer, format_ts(self.now())))
            db.execute("INSERT OR REPLACE INTO console_acks VALUES (?,?,?,?,?,?,NULL)",
                       (gate, seq, officer, note, format_ts(self.now()), cmd_id))

    def ack_failed(self, gate: str, seq: int, error: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE console_acks SET error=? WHERE gate=? AND seq=?", (error, gate, seq))

    # -- the board -------------------------------------------------------------------------------
    def _alarm_sql(self, where: list[str]) -> str:
        return (f"SELECT * FROM (SELECT r.gate, r.seq, r.type, r.ts, r.received_at, r.historical, r.payload, "
                f"{_CLOSED_AT} AS closed_at, {_CLOSED_BY} AS closed_by, c.officer AS claimed_by, c.at AS claimed_at, "
                f"COALESCE(a.officer, l.by) AS acked_by, a.note, COALESCE(a.at, l.at) AS acked_at, "
                f"COALESCE(a.error, l.gate_error) AS error, r.verified "
                f"FROM records r LEFT JOIN claims c ON c.gate=r.gate AND c.seq=r.seq "
                f"LEFT JOIN console_acks a ON a.gate=r.gate AND a.seq=r.seq "
                f"LEFT JOIN acks l ON l.gate=r.gate AND l.seq=r.seq WHERE r.kind='alarm') "
                + ("WHERE " + " AND ".join(where) if where else ""))

    def _scope(self, gates: Iterable[str] | None, where: list[str], params: list[Any]) -> None:
        if gates is not None:
            gates = list(gates)
            where.append(f"gate IN ({','.join('?' * len(gates))})" if gates else "0")
            params.extend(gates)

    def board(self, *, limit: int = 50, offset: int = 0, gates: Iterable[str] | None = None,
              closed_hours: float = 24.0) -> tuple[list[AlarmRow], dict[str, int]]:
        """(one page of the board, counts {total, open, new, escalated}): open alarms and those the
        gate closed in the last `closed_hours`; `gates` limits it to those gates (a guard's compound).
        `new` (what sounds) leaves out unverified alarms: without the gate's MAC they are someone's
        claim, shown as UNVERIFIED, not the gate's word."""
        since = format_ts(self.now() - timedelta(hours=closed_hours))
        escalate_before = format_ts(self.now() - timedelta(seconds=self.escalate_after))
        where, params = ["(closed_at IS NULL OR closed_at >= ?)"], [since]
        self._scope(gates, where, params)
        sql = self._alarm_sql(where)
        (total, open_, new, escalated), = self.query(
            f"SELECT COUNT(*), COALESCE(SUM(closed_at IS NULL), 0), "
            f"COALESCE(SUM(closed_at IS NULL AND claimed_by IS NULL AND verified=1), 0), "
            f"COALESCE(SUM(closed_at IS NULL AND acked_by IS NULL AND claimed_at < ?), 0) FROM ({sql})",
            [escalate_before, *params])
        rows = self.query(
            f"{sql} ORDER BY (closed_at IS NOT NULL), CASE WHEN closed_at IS NULL THEN {priority_sql()} ELSE 0 END, "
            f"CASE WHEN closed_at IS NULL THEN ts END ASC, ts DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        counts = {"total": total, "open": open_, "new": new, "escalated": escalated}
        return [self._row(r, escalate_before) for r in rows], counts

    def alarm(self, gate: str, seq: int) -> AlarmRow | None:
        rows = self.query(self._alarm_sql(["gate=?", "seq=?"]), (gate, seq))
        escalate_before = format_ts(self.now() - timedelta(seconds=self.escalate_after))
        return self._row(rows[0], escalate_before) if rows else None

    def _row(self, r: tuple, escalate_before: str) -> AlarmRow:
        (gate, seq, type_, ts, received_at, historical, payload, closed_at, closed_by, claimed_by, claimed_at,
         acked_by, note, acked_at, error, verified) = r
        escalated = bool(closed_at is None and claimed_at and not acked_by and claimed_at < escalate_before)
        return AlarmRow(gate, seq, type_, ts, received_at, bool(historical), json.loads(payload),
                        gate_name=self._names.get(gate, gate), compound=self._compounds.get(gate, ""),
                        claimed_by=claimed_by, claimed_at=claimed_at, acked_by=acked_by, ack_note=note,
                        acked_at=acked_at, ack_error=error, closed_at=closed_at, closed_by=closed_by,
                        escalated=escalated, verified=bool(verified))

    # -- records around an alarm, per gate, and history ------------------------------------------
    def records(self, *, gate: str | None = None, gates: Iterable[str] | None = None, type_: str | None = None,
                card: str | None = None, since: str | None = None, until: str | None = None,
                before_seq: int | None = None, min_seq: int | None = None, types: Iterable[str] | None = None, limit: int = 100, offset: int = 0,
                newest_first: bool = True) -> list[dict[str, Any]]:
        """Stored records (the §4 payloads) matching every filter given; `since`/`until` are ISO times."""
        where, params = [], []
        if gate:
            where.append("gate=?")
            params.append(gate)
        self._scope(gates, where, params)
        if type_:
            where.append("type=?")
            params.append(type_)
        if card:
            where.append("json_extract(payload, '$.card')=?")
            params.append(card)
        if since:
            where.append("ts >= ?")
            params.append(format_ts(parse_ts(since)))
        if until:
            where.append("ts <= ?")
            params.append(format_ts(parse_ts(until)))
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        if min_seq is not None:
            where.append("seq >= ?")
            params.append(min_seq)
        if types is not None:
            types = list(types)
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        sql = "SELECT payload FROM records" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY ts {'DESC' if newest_first else 'ASC'}, seq {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?"
        return [json.loads(p) for (p,) in self.query(sql, [*params, limit, offset])]

    def last_record(self, gate: str) -> dict[str, Any] | None:
        rows = self.query("SELECT payload FROM records WHERE gate=? ORDER BY seq DESC LIMIT 1", (gate,))
        return json.loads(rows[0][0]) if rows else None

    def gate_statuses(self) -> dict[str, tuple[bool | None, str | None, dict[str, Any]]]:
        """gate -> (online, status_at, last status payload)."""
        out = {}
        for gate, online, at, status in self.query("SELECT gate, online, status_at, status FROM gates"):
            try:
                payload = json.loads(status) if status else {}
            except ValueError:
                payload = {}
            out[gate] = (None if online is None else bool(online), at, payload if isinstance(payload, dict) else {})
        return out
