"""What the uplink publishes next: the journal is the outbox, this class is its cursor.

Per MQTT session: alarms first, then ordinary records, both in seq order from the journal's
undelivered set; then station-requested replays in bounded batches. At most `max_in_flight`
messages wait for a PUBACK; a record is marked delivered only when its PUBACK arrives. A new session
starts from the journal again, so whatever the last one left unacknowledged is sent again.

Every in-flight entry is tagged with the MQTT session it was published on: message ids restart with
each session's fresh client (and wrap after 65,535), so a PUBACK is matched by (session, mid), and a
PUBACK of an old session can never complete a record of the current one. Every message the uplink
publishes goes through `sent()` (records, status, command results), so a PUBACK that overtakes
`sent()` is always consumed by the `sent()` of its own message.

"Historical" (interface §4, "delivered late") is defined precisely as: the record was committed
before the session that delivers it was established (it waited out an outage, a broker restart or a
daemon restart), or it is sent because of a replay command. Records committed while the session is
up are live, even if they queue briefly behind others.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from gate.store.journal import Journal, JournalRecord

LIVE, BACKLOG, REPLAY = "live", "backlog", "replay"


@dataclass(frozen=True)
class Outgoing:
    """One record to publish, and why."""

    record: JournalRecord
    historical: bool
    kind: str  # LIVE, BACKLOG or REPLAY
    session: int = 0  # the session whose next_batch() produced it


class Outbox:
    """Thread-safe cursor over the journal. `next_batch()` / `sent()` / `unsent()` / `acked()` /
    `take_acked()` are called by the uplink; `session_started()` / `session_ended()` by the MQTT
    session. `session` arguments default to the current session."""

    def __init__(self, journal: Journal, *, max_in_flight: int = 100, replay_batch: int = 100):
        self.journal = journal
        self.max_in_flight = max_in_flight
        self.replay_batch = replay_batch
        self._lock = threading.Lock()
        self._active = False
        self._live_from = 1 << 62
        self._alarm_cursor = 0
        self._event_cursor = 0
        self._session = 0
        self._in_flight: dict[tuple[int, int], tuple[int, str]] = {}  # (session, mid) -> (seq, kind)
        self._early: set[tuple[int, int]] = set()  # (session, mid) of PUBACKs that overtook sent()
        self._acked: list[int] = []
        self._replays: deque[list[int]] = deque()  # [next_seq, to_seq]

    # --- session --------------------------------------------------------------------------------
    def session_started(self, session: int | None = None) -> None:
        """A new MQTT session (numbered `session`, default: the previous number + 1) is up."""
        with self._lock:
            self._session = session if session is not None else self._session + 1
            self._active = True
            self._live_from = self.journal.last_seq + 1
            self._alarm_cursor = self._event_cursor = 0
            self._requeue_lost_replays()
            self._in_flight.clear()
            self._early.clear()

    def session_ended(self) -> None:
        with self._lock:
            self._active = False

    def _requeue_lost_replays(self) -> None:
        lost = sorted(seq for seq, kind in self._in_flight.values() if kind == REPLAY)
        if lost:
            self._replays.appendleft([lost[0], lost[-1]])

    @property
    def active(self) -> bool:
        return self._active

    @property
    def session(self) -> int:
        return self._session

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    # --- replay ---------------------------------------------------------------------------------
    def request_replay(self, from_seq: int, to_seq: int | None = None) -> tuple[int, int]:
        """Queue a replay of [from_seq, to_seq] (to_seq defaults to the newest record). Returns the range."""
        to = min(to_seq if to_seq is not None else self.journal.last_seq, self.journal.last_seq)
        with self._lock:
            if from_seq <= to:
                self._replays.append([from_seq, to])
        return from_seq, to

    @property
    def replay_pending(self) -> bool:
        with self._lock:
            return bool(self._replays)

    # --- publishing -----------------------------------------------------------------------------
    def next_batch(self) -> list[Outgoing]:
        """Records to publish now, within the in-flight cap: alarms, then ordinary records, then at most
        `replay_batch` replayed records (so a huge replay never holds a live alarm back for long)."""
        with self._lock:
            if not self._active:
                return []
            room = self.max_in_flight - len(self._in_flight)
            session = self._session
            alarm_cursor, event_cursor, live_from = self._alarm_cursor, self._event_cursor, self._live_from
        if room <= 0:
            return []
        out: list[Outgoing] = []
        for rec in self.journal.undelivered(room, alarm=True, after_seq=alarm_cursor):
            out.append(Outgoing(rec, rec.seq < live_from, LIVE if rec.seq >= live_from else BACKLOG, session))
        # Ordinary records are refilled in batches (at least half the cap): fewer, larger queries and
        # delivered-marks drain a backlog faster. Alarms above are checked on every call.
        if len(out) < room and (room - len(out) >= max(1, self.max_in_flight // 2) or room == self.max_in_flight):
            for rec in self.journal.undelivered(room - len(out), alarm=False, after_seq=event_cursor):
                out.append(Outgoing(rec, rec.seq < live_from, LIVE if rec.seq >= live_from else BACKLOG, session))
        with self._lock:
            if self._session != session:
                return []  # a new session started meanwhile: it reads the journal afresh
            for o in out:
                if o.record.alarm:
                    self._alarm_cursor = max(self._alarm_cursor, o.record.seq)
                else:
                    self._event_cursor = max(self._event_cursor, o.record.seq)
            room -= len(out)
            job = self._replays[0] if self._replays and room > 0 else None
            if job is not None:
                n = min(room, self.replay_batch)
                start, end = job[0], job[1]
        if job is not None:
            recs = self.journal.records(from_seq=start, to_seq=end, limit=n)
            out += [Outgoing(r, True, REPLAY, session) for r in recs]
            with self._lock:
                if self._replays and self._replays[0] is job:
                    job[0] = (recs[-1].seq + 1) if len(recs) == n else end + 1
                    if job[0] > job[1]:
                        self._replays.popleft()
        return out

    def sent(self, mid: int, out: Outgoing | None, session: int | None = None) -> None:
        """The session accepted `out` for sending under message id `mid` on MQTT session `session`.
        `out=None` for a message that is not a record (status, command result), so its PUBACK is
        consumed, not mistaken for a record's. Ignored for a session that is no longer current: the
        new session re-sends from the journal."""
        with self._lock:
            session = self._session if session is None else session
            if session != self._session:
                return
            key = (session, mid)
            if key in self._early:
                self._early.discard(key)
                if out is not None:
                    self._acked.append(out.record.seq)
            else:
                self._in_flight[key] = (out.record.seq, out.kind) if out is not None else (-1, "other")

    def unsent(self, outs: list[Outgoing]) -> None:
        """These records of a batch were not published (the connection went): take them again next
        time, in this session too (otherwise they would wait for the next reconnect)."""
        with self._lock:
            outs = [o for o in outs if o.session == self._session]
            alarms = [o.record.seq for o in outs if o.kind != REPLAY and o.record.alarm]
            events = [o.record.seq for o in outs if o.kind != REPLAY and not o.record.alarm]
            # Cursors only ever pass records in seq order, so everything below the first unsent
            # record of each class is in flight or delivered: rewinding there re-sends nothing twice.
            if alarms:
                self._alarm_cursor = min(self._alarm_cursor, min(alarms) - 1)
            if events:
                self._event_cursor = min(self._event_cursor, min(events) - 1)
            replayed = [o.record.seq for o in outs if o.kind == REPLAY]
            if replayed:
                self._replays.appendleft([min(replayed), max(replayed)])

    def acked(self, mid: int, session: int | None = None) -> bool:
        """A PUBACK for `mid` arrived on `session`. True when it completed one of our records."""
        with self._lock:
            session = self._session if session is None else session
            if session != self._session:
                return False  # an old session's PUBACK: its records are re-sent anyway
            entry = self._in_flight.pop((session, mid), None)
            if entry is None:
                self._early.add((session, mid))  # it overtook sent(); sent() will consume it
                return False
            if entry[0] < 0:
                return False
            self._acked.append(entry[0])
            return True

    def take_acked(self) -> list[int]:
        """The seqs acknowledged since the last call (to be marked delivered, in one transaction)."""
        with self._lock:
            acked, self._acked = self._acked, []
        return acked
