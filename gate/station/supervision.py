"""Per-gate supervision at the station: a configured gate heard from by nothing verified (no record,
no online status, no command result with its MAC) for `supervision_seconds` becomes a station-side
`gate_silent` alarm; the alarm closes when the gate is heard again. Its last will need not have come
(a dead broker session, a hung gate whose MQTT thread still pings, a cut line the broker has not
noticed yet).

The gate publishes its status only on (re)connect and on a change, so a healthy idle gate is quiet:
once it has been quiet for half its `supervision_seconds` the supervisor sends it a signed catch-up
probe (`replay` from the seq after the newest known), which the gate answers with a signed result,
and that answer counts as hearing it. A busy gate is never probed.

How a station alarm is stored: as a record of the gate with a NEGATIVE seq (gate seqs start at 1, so
it can never collide with, fill or open a gap of the gate's own journal), `kind` alarm, `type`
gate_silent, `origin: "station"` and no `mac`. It closes with the station's own
`alarm_acknowledged` record (`by: "station"`, `reason: "gate_heard"`, `alarm_seq` the alarm's seq,
`heard_at`): the record that closes a gate's alarm on the board, so the board, `/api/alarms`,
`watch`, `history` and both store backends need no special case. Listeners (live stream, DC-09)
are handed both records as NEW; the DC-09 forwarder sends the alarm as Contact ID 350 / SIA YC and
the close as its restore (R350 / YK).

Several `serve` instances on one PostgreSQL: a `supervision` row per gate holds when it was last
heard (written by whichever instance heard it) and the seq of its open alarm; raising is an
`UPDATE ... WHERE open_seq IS NULL AND heard_at < cutoff`, which PostgreSQL's row lock makes atomic,
so exactly one instance raises and one closes.

Runs on the consumer's worker between batches: `heard()` is a dict assignment; `tick()` writes the
heard times at most every `check_every` seconds and reads only the quiet gates' rows.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable

from gate.clock import Clock
from gate.core.timefmt import format_ts, parse_ts
from gate.station.store_sql import StoreSql

log = logging.getLogger("gate.station.supervision")

GATE_SILENT = "gate_silent"
STATION = "station"  # `origin` of the station's own records, `by` of its closes

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS supervision (
    gate TEXT PRIMARY KEY,
    heard_at TEXT,                              -- the last verified message from the gate (any instance)
    open_seq INTEGER,                           -- seq (< 0) of its open gate_silent alarm; NULL: none
    last_station_seq INTEGER NOT NULL DEFAULT 0 -- the station's own seqs for this gate count down from -1
);
"""

Emit = Callable[[str, str, dict[str, Any]], None]  # (gate, kind, record) of a station record just stored
Probe = Callable[[str], None]


def is_station_record(record: dict[str, Any]) -> bool:
    """True for the station's own observations (gate_silent and its close): never the gate's word."""
    return record.get("origin") == STATION


class Supervisor:
    """Watches the configured gates (`thresholds`: gate -> supervision seconds, 0 = not supervised)."""

    def __init__(self, store: Any, thresholds: dict[str, float], *, clock: Clock, emit: Emit | None = None,
                 probe: Probe | None = None, check_every: float | None = None):
        self.sql = StoreSql(store)
        self.sql.script(SQLITE_SCHEMA)
        self.thresholds = {g: float(t) for g, t in thresholds.items() if t > 0}
        self._clock = clock
        self._emit, self._probe = emit, probe
        shortest = min(self.thresholds.values(), default=60.0)
        # Often enough that a silence is noticed within a tenth of its threshold; never busier than 5/s.
        self.check_every = check_every if check_every is not None else min(max(shortest / 10, 0.2), 5.0)
        self._heard: dict[str, datetime] = {}      # heard since the last flush (this instance)
        self._open: set[str] = set()               # gates with an open alarm (any instance's), as last read
        self._probed: dict[str, datetime] = {}     # when each quiet gate was last probed
        self._since: datetime | None = None        # connected since: a silence counts from here at most
        self._next = 0.0
        if self.thresholds:
            self.sql.write(lambda x: [x("INSERT INTO supervision (gate) VALUES (?) ON CONFLICT (gate) DO NOTHING",
                                        (g,)) for g in sorted(self.thresholds)])

    # -- called by the consumer ------------------------------------------------------------------
    def heard(self, gate: str) -> None:
        """A verified message from `gate` (record, online status or command result): cheap."""
        if gate in self.thresholds:
            self._heard[gate] = self._clock.wall()

    def tick(self, *, connected: bool) -> None:
        """Flush heard times, close what was heard, raise what is silent. Never raises."""
        try:
            self._tick(connected)
        except Exception:  # the consumer's worker must go on storing records
            log.exception("station supervision failed; retrying")

    def _tick(self, connected: bool) -> None:
        if not self.thresholds:
            return
        now_m = self._clock.monotonic()
        if any(g in self._open for g in self._heard) or now_m >= self._next:
            self._flush()
        if not connected:
            self._since = None  # without the broker nothing is heard: that is the station's silence
            return
        now = self._clock.wall()
        if self._since is None:
            self._since = now
        if now_m < self._next:
            return
        self._next = now_m + self.check_every
        self._check(now)

    # -- the work --------------------------------------------------------------------------------
    def _flush(self) -> None:
        heard, self._heard = self._heard, {}
        if not heard:
            return
        upsert = ("INSERT INTO supervision (gate, heard_at) VALUES (?, ?) ON CONFLICT (gate) DO UPDATE "
                  "SET heard_at = excluded.heard_at WHERE supervision.heard_at IS NULL "
                  "OR supervision.heard_at < excluded.heard_at")
        self.sql.write(lambda x: [x(upsert, (g, format_ts(t))) for g, t in sorted(heard.items())])
        for gate in sorted(heard):
            self._probed.pop(gate, None)
            if gate in self._open:
                self._close(gate, heard[gate])

    def _check(self, now: datetime) -> None:
        probe_after = min(self.thresholds.values()) / 2
        cutoff = format_ts(now - timedelta(seconds=probe_after))
        rows = self.sql.read("SELECT gate, heard_at, open_seq FROM supervision "
                             "WHERE open_seq IS NOT NULL OR heard_at IS NULL OR heard_at < ?", (cutoff,))
        self._open = {g for g, _, open_seq in rows if open_seq is not None and g in self.thresholds}
        for gate, heard_at, open_seq in rows:
            limit = self.thresholds.get(gate)
            if limit is None or open_seq is not None:
                continue
            since = max(parse_ts(heard_at), self._since) if heard_at else self._since
            quiet = (now - since).total_seconds()
            if quiet >= limit:
                self._raise(gate, heard_at, now, limit)
            elif quiet >= limit / 2 and self._probe is not None:
                last = self._probed.get(gate)
                if last is None or (now - last).total_seconds() >= limit / 2:
                    self._probed[gate] = now
                    try:
                        self._probe(gate)
                    except Exception as exc:  # noqa: BLE001 - no key, no link: the alarm still comes
                        log.warning("could not probe quiet gate %s: %s", gate[:128], exc)

    def _raise(self, gate: str, heard_at: str | None, now: datetime, limit: float) -> None:
        cutoff = format_ts(now - timedelta(seconds=limit))
        stamp = format_ts(now)

        def write(x) -> dict[str, Any] | None:
            row = x("UPDATE supervision SET open_seq = last_station_seq - 1, last_station_seq = last_station_seq - 1 "
                    "WHERE gate=? AND open_seq IS NULL AND (heard_at IS NULL OR heard_at < ?) RETURNING open_seq",
                    (gate, cutoff)).fetchone()
            if row is None:
                return None  # heard meanwhile, or another instance raised it first
            rec = {"gate": gate, "seq": row[0], "id": f"station-{gate}-{row[0]}", "ts": stamp, "type": GATE_SILENT,
                   "historical": False, "origin": STATION, "last_heard": heard_at, "supervision_seconds": limit}
            _insert(x, "alarm", rec, stamp)
            return rec

        rec = self.sql.write(write)
        if rec is not None:
            self._open.add(gate)
            log.error("gate %s silent since %s (over %g s): gate_silent alarm %d", gate[:128],
                      heard_at or "before this station started", limit, rec["seq"])
            self._hand_out(gate, "alarm", rec)

    def _close(self, gate: str, heard: datetime) -> None:
        stamp = format_ts(self._clock.wall())

        def write(x) -> dict[str, Any] | None:
            row = x("SELECT open_seq FROM supervision WHERE gate=?", (gate,)).fetchone()
            if row is None or row[0] is None:
                return None
            alarm_seq = row[0]
            done = x("UPDATE supervision SET open_seq = NULL, last_station_seq = last_station_seq - 1 "
                     "WHERE gate=? AND open_seq=? RETURNING last_station_seq", (gate, alarm_seq)).fetchone()
            if done is None:
                return None  # another instance closed it first
            rec = {"gate": gate, "seq": done[0], "id": f"station-{gate}-{done[0]}", "ts": format_ts(heard),
                   "type": "alarm_acknowledged", "historical": False, "origin": STATION, "by": STATION,
                   "reason": "gate_heard", "alarm": GATE_SILENT, "alarm_seq": alarm_seq, "heard_at": format_ts(heard)}
            _insert(x, "event", rec, stamp)
            # The store's acks table too, so `watch` (unacknowledged alarms) drops it like an acked one.
            x("INSERT INTO acks (gate, seq, \"by\", at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
              (gate, alarm_seq, STATION, stamp))
            return rec

        rec = self.sql.write(write)
        self._open.discard(gate)
        if rec is not None:
            log.warning("gate %s heard again: gate_silent alarm %d closed", gate[:128], rec["alarm_seq"])
            self._hand_out(gate, "event", rec)

    def _hand_out(self, gate: str, kind: str, rec: dict[str, Any]) -> None:
        if self._emit is None:
            return
        try:
            self._emit(gate, kind, rec)
        except Exception:  # noqa: BLE001 - a listener's failure must not undo the alarm
            log.exception("station record listener failed on the station's own record %s %s", gate[:128], rec["seq"])

    def open_alarms(self) -> dict[str, int]:
        """gate -> seq of its open gate_silent alarm (for tests and `gaps`-like reports)."""
        return dict(self.sql.read("SELECT gate, open_seq FROM supervision WHERE open_seq IS NOT NULL"))


def _insert(x, kind: str, rec: dict[str, Any], received_at: str) -> None:
    x("INSERT INTO records (gate, seq, id, kind, type, ts, historical, received_at, payload, verified) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      (rec["gate"], rec["seq"], rec["id"], kind, rec["type"], rec["ts"], False, received_at,
       json.dumps(rec, separators=(",", ":"), ensure_ascii=False), True))


def thresholds_of(cfg: Any) -> dict[str, float]:
    """gate -> supervision seconds for every configured gate (its own key, else the station's)."""
    return {g: cfg.supervision_for(g) for g in cfg.known_gates}
