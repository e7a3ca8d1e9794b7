"""The station consumer: receives every gate's records, status and command results; stores records
deduplicated; finds gaps and asks the gate for signed replays until they are filled.

Threads: paho's network thread only queues messages (inbox.py: bounded, fair between gates, alarms
first); one worker thread stores them in batches (one SQLite transaction each, a savepoint per
record), calls the listeners and runs the replay schedule. Listeners therefore run in the worker
thread and must be quick.

Every message is checked on its own (intake.py): a bad one (too big, too deep, not JSON, a seq outside
1..2**63-1, a wrong type) is counted for its gate, logged at most every 10 s per gate, and skipped;
the rest of the batch is stored. Records and status carry the gate's MAC (`mac`): unverified ones are
stored flagged and never take a seq from a verified one (store.add_records).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable


from gate.clock import Clock, SystemClock
from gate.core.errors import InputError
from gate.station.commands import CommandResult, CommandSender, StationLinkError, connect_properties, make_client, topic_qos
from gate.station.config import StationConfig
from gate.station.inbox import ALARM, OTHER, Inbox
from gate.station.intake import MAX_PAYLOAD_BYTES, GateCounters, parse_payload, record_verified, status_verified
from gate.station.replay_ask import ReplayAsker
from gate.station.replay_lease import lease_for
from gate.station.replay_schedule import ReplaySchedule, plan_requests  # noqa: F401 (their old home)
from gate.station.store import INVALID, NEW, GateState, StationStore, open_station_store, validate_record
from gate.station.supervision import Supervisor, thresholds_of

log = logging.getLogger("gate.station.consumer")


@dataclass(frozen=True)
class Received:
    """One record as handed to listeners: `outcome` is store.NEW, DUPLICATE or CONFLICT. `verified`:
    the record carried a valid MAC by the gate's key. A verified record that takes its seq back from
    an unverified one is NEW (again) with `verified` True."""

    gate: str
    kind: str
    record: dict[str, Any]
    outcome: str
    verified: bool = True


RecordListener = Callable[[Received], None]
StatusListener = Callable[[GateState], None]


class StationConsumer:
    """Subscribes `P/+/event`, `P/+/alarm` (as `$share/GROUP/...` when `shared_group` is set),
    `P/+/status` and `P/+/cmd/result`; stores and tracks as described in the module docstring.

    `on_record(Received)` is called for every record received (check `outcome`), `on_status(GateState)`
    for every status or last will. Commands go out through `sender` (results are routed to it)."""

    def __init__(self, cfg: StationConfig, *, clock: Clock | None = None, client_id: str | None = None,
                 on_record: RecordListener | None = None, on_status: StatusListener | None = None,
                 store: StationStore | None = None, batch_size: int = 500, inbox: Inbox | None = None):
        self.cfg = cfg
        self._clock = clock or SystemClock()
        self.client_id = client_id or default_client_id(cfg)
        self._on_record, self._on_status = on_record, on_status
        self._batch_size = batch_size
        self._owns_store = store is None
        self.store = store or open_station_store(cfg.store, clock=self._clock,
                                                 backfill_new_gates=cfg.backfill_new_gates)
        self._inbox = inbox or Inbox()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._closed = False
        self._worker: threading.Thread | None = None
        self._reprobe = threading.Event()  # set by each (re)connect on the network thread
        self.stats = {"received": 0, "stored": 0, "duplicates": 0, "conflicts": 0, "invalid": 0, "replays": 0,
                      "unverified": 0, "dropped": 0, "gap_asks": 0,
                      "asked_records": 0, "replays_left_to_sibling": 0}
        # Per gate (bounded names), each logged at most every 10 s per gate.
        self.invalid = GateCounters(self._clock, log, "ignored invalid message(s)")
        self.unverified = GateCounters(self._clock, log, "record(s)/status without a valid MAC (stored as "
                                       "unverified; is the gate's mqtt.command_secret_file the station's "
                                       "gates.ID.secret_file?)")
        self.supervision = Supervisor(self.store, thresholds_of(cfg), clock=self._clock, emit=self._station_record,
                                      probe=lambda g: self.sender.publish(g, "replay", {"from_seq": self.replays.top(g) + 1}, track=False))
        self.dropped = GateCounters(self._clock, log, "inbox full, message(s) dropped (gaps are replayed)",
                                    level=logging.ERROR)
        self._client = make_client(cfg, self.client_id)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self._client.on_message = self._handle_message
        self.sender = CommandSender(self._client, cfg, clock=self._clock)
        # Probes and gap replays (replay_ask.py): paced by the budget, one asking instance per gate.
        self.replays = ReplayAsker(cfg, self._clock, self.store, self.sender, stats=self.stats,
                                   lease=lease_for(self.store, self.client_id, self._clock),
                                   inbox_size=lambda: self._inbox.size[0])
        self.schedule = self.replays.schedule

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, timeout: float = 10.0) -> "StationConsumer":
        """Connect, subscribe and start the worker. Raises StationLinkError if the broker does not
        answer within `timeout` (paho keeps retrying in the background once connected)."""
        for gate in {g.gate for g in self.store.gaps()}:  # gaps left from a previous run
            self.schedule.observe(gate, sum(g.size for g in self.store.gaps(gate)))
        self._worker = threading.Thread(target=self._run, name="station-consumer", daemon=True)
        self._worker.start()
        try:
            self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive,
                                       properties=connect_properties(self.cfg))
            self._client.loop_start()
        except OSError as exc:
            self.close()
            raise StationLinkError(f"cannot reach broker {self.cfg.host}:{self.cfg.port}: {exc}") from exc
        if not self._subscribed.wait(timeout):
            self.close()
            raise StationLinkError(f"broker {self.cfg.host}:{self.cfg.port}: not connected and subscribed "
                                   f"within {timeout:g}s")
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.disconnect()
            self._client.loop_stop()
        finally:
            self._stop.set()
            if self._worker is not None and self._worker is not threading.current_thread():
                self._worker.join(5)
            if self._owns_store:
                self.store.close()

    def __enter__(self) -> "StationConsumer":
        return self.start() if self._worker is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def idle(self) -> bool:
        """True when every received message has been processed (for tests and the bench)."""
        return self._inbox.unfinished == 0

    # -- MQTT callbacks (network thread) ----------------------------------------------------------
    def topics(self) -> list[str]:
        p = self.cfg.topic_prefix
        share = f"$share/{self.cfg.shared_group}/" if self.cfg.shared_group else ""
        return [f"{share}{p}/+/event", f"{share}{p}/+/alarm", f"{p}/+/status", f"{p}/+/cmd/result"]

    def _handle_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            log.error("broker %s:%s refused the station: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        self._connected.set()
        self._reprobe.set()  # the worker tells the asker: probes are due again
        # Subscribe on every connect: with a clean session the broker forgot the subscriptions.
        client.subscribe([topic_qos(self.cfg, t) for t in self.topics()])

    def _handle_message(self, client, userdata, msg) -> None:
        """Network thread: queue by gate, alarms apart; an oversized payload is refused here, unread."""
        gate, leaf = _gate_and_leaf(self.cfg.topic_prefix, msg.topic)
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            self.invalid.add(gate, lambda: f"{msg.topic[:200]}: payload of {len(msg.payload)} bytes is larger "
                                           f"than {MAX_PAYLOAD_BYTES}")
            return
        self._inbox.put(gate, ALARM if leaf == "alarm" else OTHER, msg.topic, msg.payload)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("lost the broker %s:%s (%s); paho reconnects", self.cfg.host, self.cfg.port, reason_code)

    # -- worker ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._inbox.get_batch(self._batch_size, 0.05)
            try:
                if batch:
                    self._process(batch)
                self._note_drops()
                self._ask_replays()
                self.supervision.tick(connected=self._connected.is_set())
            except Exception:  # a worker that dies silently would hide every later alarm
                log.exception("station consumer: processing failed; continuing")
            finally:
                self._inbox.task_done(len(batch))

    def _note_drops(self) -> None:
        for gate, counts in self._inbox.take_drops().items():
            n = counts[ALARM] + counts[OTHER]
            self.stats["dropped"] += n
            self.dropped.add(gate, f"{counts[ALARM]} alarm(s), {counts[OTHER]} other message(s)", n)
            if counts[ALARM]:
                self.replays.alarms_dropped(gate)

    def _process(self, batch: list[tuple[str, bytes]]) -> None:
        records: list[tuple[str, str, dict[str, Any], bool]] = []
        results: list[tuple[str, dict[str, Any]]] = []
        for topic, raw in batch:
            self.stats["received"] += 1
            gate, leaf = _gate_and_leaf(self.cfg.topic_prefix, topic)
            try:  # each message on its own: nothing one of them holds can cost the others
                self._take(gate, leaf, raw, records, results)
            except Exception as exc:  # InputError, and anything a hostile payload may still raise
                self.stats["invalid"] += 1
                self.invalid.add(gate, lambda exc=exc: f"{topic[:200]}: {type(exc).__name__}: {str(exc)[:300]}")
        self._store_records(records)
        # Results after the records of the same batch, so a probe's result sees any replayed
        # records that came before it (the real gate answers first and republishes afterwards).
        for gate, payload in results:
            try:
                result = self.sender.handle_result(payload, gate)
                if result is not None and result.verified:
                    self.supervision.heard(gate)
                if result is not None and not result.ok:
                    log.warning("gate %s rejected command %s: %s", gate, result.cmd_id[:128], str(result.error)[:300])
                if result is not None and result.verified:
                    self.replays.result(gate, result)
            except Exception:
                log.exception("gate %s: handling a command result failed", gate[:128])

    def _take(self, gate: str, leaf: str | None, raw: bytes, records: list, results: list) -> None:
        """Parse and check one message; records and results are collected, a status applied at once."""
        if leaf is None:
            return  # not one of our topics
        payload = parse_payload(raw)
        if leaf in ("event", "alarm"):
            rec = validate_record(gate, leaf, payload)
            verified = record_verified(rec, self._key_for(gate))
            if not verified:
                self.stats["unverified"] += 1
                self.unverified.add(gate, lambda: f"{leaf} seq {rec['seq']} ({str(rec['type'])[:64]})")
            records.append((gate, leaf, rec, verified))
        elif leaf == "status":
            verified = isinstance(payload, dict) and status_verified(payload, self._key_for(gate))
            if not verified:
                self.stats["unverified"] += 1
                self.unverified.add(gate, "status")
            self._status(gate, payload, verified)
        elif leaf == "cmd/result":
            if not isinstance(payload, dict):
                raise InputError("a command result must be a JSON object")
            results.append((gate, payload))

    def _key_for(self, gate: str) -> bytes | None:
        try:
            return self.cfg.secret_for(gate)
        except (OSError, ValueError):  # no [gates."ID"] entry (ConfigError), unreadable or empty file
            return None

    def _store_records(self, records: list[tuple[str, str, dict[str, Any], bool]]) -> None:
        if not records:
            return
        outcomes = self.store.add_records(records)
        for (gate, kind, rec, verified), outcome in zip(records, outcomes):
            if outcome == INVALID:
                self.stats["invalid"] += 1
                self.invalid.add(gate, lambda: f"the store refused {kind} seq {rec['seq']}: {self.store.last_invalid[:300]}")
                continue
            if verified:
                self.supervision.heard(gate)
            key = {"new": "stored", "duplicate": "duplicates", "conflict": "conflicts"}[outcome]
            self.stats[key] += 1
            if outcome == "conflict":
                log.error("gate %s seq %s arrived with another id (%s, %s): kept the first, set aside the other",
                          gate[:128], rec["seq"], rec["id"][:128], "verified" if verified else "unverified")
            if self._on_record is not None:
                try:  # one listener's failure must not keep the next records from the others
                    self._on_record(Received(gate, kind, rec, outcome, verified))
                except Exception:
                    log.exception("station record listener failed on gate %s seq %s", gate[:128], rec["seq"])
        for gate in {r[0] for r in records}:
            self.replays.stored(gate)

    def _station_record(self, gate: str, kind: str, rec: dict[str, Any]) -> None:
        """The supervisor stored one of the station's own records: hand it to the listeners."""
        if self._on_record is not None:
            self._on_record(Received(gate, kind, rec, NEW, True))

    def _status(self, gate: str, payload: Any, verified: bool = True) -> None:
        if isinstance(payload, dict) and payload.get("gate", gate) != gate:
            raise InputError(f"status names gate {str(payload.get('gate'))[:128]!r}, not the topic's gate")
        state = self.store.set_status(gate, payload, verified=verified)
        if verified and state.online:
            self.supervision.heard(gate)
        self.replays.status_seen(gate, bool(state.online), verified)
        if self._on_status is not None:
            try:
                self._on_status(state)
            except Exception:
                log.exception("station status listener failed on gate %s", gate[:128])

    def _ask_replays(self) -> None:
        if not self._connected.is_set():
            return  # the schedule keeps its due gates until the link is back
        if self._reprobe.is_set():
            self._reprobe.clear()
            self.replays.reconnected()
        self.replays.run()


def _gate_and_leaf(prefix: str, topic: str) -> tuple[str, str | None]:
    """(gate, "event" | "alarm" | "status" | "cmd/result") of `P/G/...`; leaf None for any other topic."""
    if not topic.startswith(prefix + "/"):
        return "", None
    gate, _, rest = topic[len(prefix) + 1:].partition("/")
    return gate, rest if rest in ("event", "alarm", "status", "cmd/result") else None


def default_client_id(cfg: StationConfig) -> str:
    """The configured client id, with host and pid appended unless a broker session is to be resumed
    (`session_expiry_seconds` > 0 and no shared group): with clean sessions a fixed id buys nothing,
    and two consoles on one id (say `watch` and `watch --json`) would take the id from each other
    on every reconnect. Instances of a shared subscription always need their own ids."""
    if cfg.shared_group or cfg.session_expiry_seconds == 0:
        return f"{cfg.client_id}-{socket.gethostname()}-{os.getpid()}"
    return cfg.client_id
