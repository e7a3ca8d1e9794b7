"""The MQTT uplink to the station (interface §4–5): journal → broker, signed commands → gate.

Threads: the session's network thread (paho I/O, keepalive, reconnect; it only queues command
payloads, command_queue.py) and one uplink worker that, on each pass, publishes the status, drains
the outbox (outbox.py, alarms first) in seq order at QoS 1, marking records delivered when their
PUBACKs arrive, and then serves commands for one bounded budget (command_service.py): no command
traffic can hold an alarm back. The controller's record listener only wakes the worker: the journal,
not paho's memory, holds everything still to be sent. `record_bytes` is the one place a record
becomes the published payload.

The status is republished whenever the status-relevant part of the controller snapshot differs from
the last published one; the worker compares on every wake-up and at least every 0.5 s (the
controller updates its snapshot just after the record listeners run, so a comparison on the record
alone could look at the state before the change).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from gate.clock import Clock, SystemClock
from gate.uplink.command_gate import CommandGate, RejectionLimiter
from gate.uplink.command_queue import MAX_QUEUED_COMMANDS, CommandQueue  # noqa: F401 (re-exported)
from gate.uplink.command_service import CommandService, Handler
from gate.core.errors import InputError, StorageError
from gate.store.failure_log import FailureLog
from gate.store.journal import Journal, JournalRecord
from gate.uplink.session import MqttSession, SessionSettings, Will
from gate.uplink.outbox import Outbox, Outgoing
from gate.uplink.signing import RECORD, RESULT, STATUS, seal
from gate.uplink.status import encode, offline_status, online_status, status_view
from gate.core.timefmt import format_ts
from paho.mqtt.client import topic_matches_sub as mqtt_topic_matches

log = logging.getLogger("gate.uplink")


class Topics:
    """`P/G/...` topic names of one gate."""

    def __init__(self, prefix: str, gate_id: str):
        base = f"{prefix.rstrip('/')}/{gate_id}"
        self.status, self.event, self.alarm = f"{base}/status", f"{base}/event", f"{base}/alarm"
        self.cmd, self.cmd_result = f"{base}/cmd", f"{base}/cmd/result"


class Uplink:
    """Store-and-forward link of one gate to the station broker.

    `on_record(rec)` is the controller's record listener. `register_command(action, handler)` adds a
    command action: the handler gets the verified command dict and returns a dict merged into the
    result (or None), or raises InputError (→ `command_rejected`, reason `invalid_arguments`) or
    CommandRejected (its own reason). `record(type, fields)` journals command outcomes (default: the
    journal directly). `rejection_limiter` bounds how many `command_rejected` records a flood can
    write (default: 20 per reason per minute, then one summary record with `suppressed`);
    `answer_limiter` how many answers (default 20 per reason per 10 s, then a summary answer);
    `command_queue` bounds waiting payloads in entries and bytes; `command_budget_seconds` is the
    command work per worker pass.
    """

    def __init__(
        self,
        journal: Journal,
        session_settings: SessionSettings,
        *,
        gate_id: str,
        topic_prefix: str,
        command_gate: CommandGate | None = None,
        snapshot: Callable[[], dict] | None = None,
        record: Callable[[str, dict[str, Any]], Any] | None = None,
        clock: Clock | None = None,
        replay_batch: int = 100,
        flush_seconds: float = 2.0,
        rejection_limiter: RejectionLimiter | None = None,
        answer_limiter: RejectionLimiter | None = None,
        command_queue: CommandQueue | None = None,
        command_budget_seconds: float = 0.05,
    ):
        self.journal = journal
        self.gate_id = gate_id
        self.topics = Topics(topic_prefix, gate_id)
        self.clock = clock or SystemClock()
        self.command_gate = command_gate
        self.snapshot = snapshot or (lambda: {})
        self._record = record or journal.append
        self.flush_seconds = flush_seconds
        self.outbox = Outbox(journal, max_in_flight=session_settings.max_in_flight, replay_batch=replay_batch)
        self.session = MqttSession(
            session_settings,
            will=Will(self.topics.status, encode(self._sealed(STATUS, offline_status(gate_id)))),
            on_up=self._on_up,
            on_ready=lambda: self._wake.set(),
            on_down=self._on_down,
            on_ack=self._on_ack,
            on_message=self._on_message,
            urgent=self._alarm_waiting,
        )
        self._handlers: dict[str, Handler] = {"replay": self._replay}
        self._listeners: list[tuple[tuple[str, ...], Callable[[str, bytes, bool], None]]] = []
        self._listener_closers: list[Callable[[], None]] = []
        self.commands = CommandService(
            command_gate, handlers=self._handlers, journal=self._journal, answer=self._answer, clock=self.clock,
            rejections=rejection_limiter, answer_limiter=answer_limiter, queue=command_queue,
            budget_seconds=command_budget_seconds,
        )
        self._commands = self.commands.queue  # len() = commands waiting
        self._alarms_pending = False  # an alarm waits in the journal while disconnected
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._journal_failures = FailureLog(log, level=logging.ERROR)
        self._status_due = False
        self._published_view: dict | None = None  # status_view of the last published status
        self._accepting = True
        self._worker: threading.Thread | None = None
        self._closed = False

    # --- public ---------------------------------------------------------------------------------
    def register_command(self, action: str, handler: Handler) -> None:
        if not action or not isinstance(action, str):
            raise ValueError("command action must be a non-empty string")
        self._handlers[action] = handler

    def add_listener(self, topic_filters: tuple[str, ...], listener: Callable[[str, bytes, bool], None], *,
                     close: Callable[[], None] | None = None) -> None:
        """Subscribe to `topic_filters` on every session; `listener(topic, payload, retained)` runs on
        the network thread, so it must only queue (e.g. the registry sync). Register before start();
        `close` runs when the uplink closes."""
        self._listeners.append((tuple(topic_filters), listener))
        if close is not None:
            self._listener_closers.append(close)

    @property
    def rejections(self) -> RejectionLimiter:
        """The limiter of journaled rejections (see CommandService)."""
        return self.commands.rejections

    @rejections.setter
    def rejections(self, limiter: RejectionLimiter) -> None:
        self.commands.rejections = limiter

    @property
    def answers(self) -> RejectionLimiter:
        """The limiter of answers to rejected commands (see CommandService)."""
        return self.commands.answers

    @answers.setter
    def answers(self, limiter: RejectionLimiter) -> None:
        self.commands.answers = limiter

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def start(self) -> "Uplink":
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="uplink", daemon=True)
            self._worker.start()
            self.session.start()
        return self

    def on_record(self, rec: JournalRecord) -> None:
        """Controller record listener: wake the worker (the record itself is read from the journal;
        the worker also compares the snapshot with the published status). An alarm while the broker
        is away shortens the reconnect wait (session.hurry)."""
        self._wake.set()
        if rec.alarm and not self.session.connected:
            self._alarms_pending = True
            self.session.hurry()

    def refresh_status(self) -> None:
        self._status_due = True
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self.session.connected

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is undelivered or in flight (tests, benchmark, clean stop)."""
        deadline = self.clock.monotonic() + timeout
        done = threading.Event()
        while True:
            if self.session.connected and self.outbox.in_flight == 0 and self.journal.backlog() == 0 \
                    and not self.outbox.replay_pending:
                return True
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False
            done.wait(min(0.02, left))  # a polling interval, bounded by the deadline

    def close(self) -> None:
        """Flush briefly, publish the offline status, disconnect. Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        if self._worker is not None and self.session.connected:
            self._wake.set()
            self.wait_idle(self.flush_seconds)
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(5)
        self.commands.summaries(flush=True)
        self._flush_acked()
        if self.session.connected:
            self.session.publish_and_wait(
                self.topics.status, encode(self._sealed(STATUS, offline_status(self.gate_id, self._now_ts()))),
                retain=True, timeout=2.0
            )
        self.session.close()
        for close in self._listener_closers:
            close()

    def __enter__(self) -> "Uplink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- session callbacks (network thread) ------------------------------------------------------
    def _on_up(self, session: MqttSession) -> None:
        # Runs before the session counts as connected: nothing is published until this is done.
        session.subscribe(self.topics.cmd)
        for filters, _ in self._listeners:
            for topic_filter in filters:
                session.subscribe(topic_filter)
        self.outbox.session_started(session.session_no)
        self._status_due = True  # the worker publishes it (after making last_seq durable)

    def _on_down(self) -> None:
        self.outbox.session_ended()

    def _on_ack(self, mid: int, session: int) -> None:
        self.outbox.acked(mid, session)
        self._wake.set()

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic != self.topics.cmd and self._accepting:
            for filters, listener in self._listeners:
                if any(mqtt_topic_matches(f, topic) for f in filters):
                    listener(topic, payload, retained)
                    return
        if topic != self.topics.cmd or not self._accepting:
            return
        self.commands.queue.offer(payload, retained)  # measures only: the network thread stays free
        self._wake.set()

    def _alarm_waiting(self) -> bool:
        """Session thread, between reconnect attempts: does an alarm wait for the station?"""
        if not self._alarms_pending:
            try:
                self._alarms_pending = bool(self.journal.undelivered(1, alarm=True))
            except StorageError:
                return False
        return self._alarms_pending

    # --- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                if self.session.connected:
                    # First on a new session: the station learns the gate is online (and its
                    # last_seq) before the backlog arrives. A status is one small publish.
                    self._maybe_publish_status()
                self._flush_acked()
                more = self._pump()
                # Records (alarms first) went out above; commands get one bounded budget per pass,
                # so no flood on P/G/cmd can hold an alarm back for longer than that.
                more = self.commands.serve() or more
                if self.session.connected:
                    self._alarms_pending = False
                if more:
                    self._wake.set()  # the cap was reached or more is waiting: go round again
                self._journal_failures.succeeded("uplink: journal available again")
            except StorageError as exc:
                # A full disk fails this every second: one traceback, then a line a minute.
                self._journal_failures.failed("uplink: journal unavailable; retrying", exc)
                self._stop.wait(1.0)
            except Exception:  # the uplink must outlive any single bad record or command
                log.exception("uplink worker error")
                self._stop.wait(0.2)

    def _flush_acked(self) -> None:
        acked = self.outbox.take_acked()
        if acked:
            self.journal.mark_delivered(acked)

    def _pump(self) -> bool:
        batch = self.outbox.next_batch()
        if not batch:
            return False
        # Nothing leaves the gate before it is on disk (ordinary records are committed NORMAL).
        self.journal.ensure_durable(max(o.record.seq for o in batch))
        for i, out in enumerate(batch):
            topic = self.topics.alarm if out.record.alarm else self.topics.event
            payload = encode(self._sealed(RECORD, out.record.payload(historical=out.historical)))
            if not self._send(topic, payload, out, session=out.session):
                self.outbox.unsent(batch[i:])
                return False
        return True

    def _send(self, topic: str, payload: bytes, out: Outgoing | None = None, *, session: int | None = None,
              retain: bool = False) -> bool:
        """Publish on the outbox's current session (or `session`) and book the message there. False when
        that session is not (or no longer) connected."""
        session = self.outbox.session if session is None else session
        mid = self.session.publish(topic, payload, retain=retain, session=session)
        if mid is None:
            return False
        self.outbox.sent(mid, out, session)
        return True

    def _maybe_publish_status(self) -> None:
        """Publish the status when a session asked for it or the gate's state changed since the last one."""
        snapshot = self._safe_snapshot()
        view = status_view(snapshot)
        if not self._status_due and view == self._published_view:
            return
        self._status_due = False
        if self._publish_status(snapshot):
            self._published_view = view
        else:
            self._status_due = True  # not connected after all: the next session publishes it

    def _publish_status(self, snapshot: dict) -> bool:
        last_seq = self.journal.last_seq
        # The station may trust last_seq as "the gate holds these": never report a seq a power cut
        # could still take back (ordinary records are committed NORMAL).
        self.journal.ensure_durable(last_seq)
        status = online_status(self.gate_id, ts=self._now_ts(), last_seq=last_seq,
                               backlog=self.journal.backlog(), snapshot=snapshot)
        return self._send(self.topics.status, encode(self._sealed(STATUS, status)), retain=True)

    def _safe_snapshot(self) -> dict:
        try:
            return self.snapshot()
        except Exception:
            log.exception("status snapshot failed")
            return {}

    def _now_ts(self) -> str:
        return format_ts(self.clock.wall())

    # --- commands -------------------------------------------------------------------------------
    def _journal(self, record_type: str, fields: dict[str, Any]) -> None:
        try:
            self._record(record_type, fields)
        except (StorageError, ValueError):  # ValueError: text SQLite cannot encode
            log.exception("cannot journal %s", record_type)
        self._wake.set()

    def _answer(self, result: dict[str, Any]) -> None:
        self._send(self.topics.cmd_result, encode(self._sealed(RESULT, result)))

    def _sealed(self, purpose: str, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` with the gate's MAC (`mac`, docs/uplink.md "Authenticated records"), so the station can
        tell this gate's records, status and results from forgeries. Without a usable key: as it is
        (the station shows it unverified)."""
        key = self.command_gate.key if self.command_gate is not None else None
        return seal(obj, key, purpose) if key else obj

    def _replay(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """`replay` (from_seq, optional to_seq): republish those records with historical=true."""
        from_seq, to_seq = cmd.get("from_seq"), cmd.get("to_seq")
        if isinstance(from_seq, bool) or not isinstance(from_seq, int) or from_seq < 1:
            raise InputError(f"from_seq: must be an integer >= 1, got {from_seq!r}")
        if to_seq is not None and (isinstance(to_seq, bool) or not isinstance(to_seq, int) or to_seq < from_seq):
            raise InputError(f"to_seq: must be an integer >= from_seq ({from_seq}), got {to_seq!r}")
        start, end = self.outbox.request_replay(from_seq, to_seq)
        self._wake.set()
        return {"from_seq": start, "to_seq": end}


def read_password(path: Path) -> str:
    """The first line of the password file (trailing newline and whitespace stripped)."""
    text = Path(path).read_text(encoding="utf-8")
    return text.splitlines()[0].strip() if text.strip() else ""
