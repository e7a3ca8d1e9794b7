"""The station consumer: receives every gate's records, status and command results; stores records
deduplicated; finds gaps and asks the gate for signed replays until they are filled.

Threads: paho's network thread only queues messages; one worker thread stores them in batches (one
SQLite transaction each), calls the listeners and runs the replay schedule. Listeners therefore run in
the worker thread and must be quick.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable


from gate.clock import Clock, SystemClock
from gate.core.errors import InputError
from gate.station.commands import CommandResult, CommandSender, StationLinkError, connect_properties, make_client, topic_qos
from gate.station.config import StationConfig
from gate.station.store import Gap, GateState, StationStore, validate_record

log = logging.getLogger("gate.station.consumer")


@dataclass(frozen=True)
class Received:
    """One record as handed to listeners: `outcome` is store.NEW, DUPLICATE or CONFLICT."""

    gate: str
    kind: str
    record: dict[str, Any]
    outcome: str


def plan_requests(gaps: list[Gap], max_batch: int) -> list[tuple[int, int]]:
    """Replay ranges covering the oldest missing seqs, at most `max_batch` records in all, so one
    replay never overflows the broker's queue for this client (mosquitto drops beyond 1,000)."""
    out: list[tuple[int, int]] = []
    budget = max_batch
    for gap in gaps:
        if budget <= 0:
            break
        to = min(gap.to_seq, gap.from_seq + budget - 1)
        out.append((gap.from_seq, to))
        budget -= to - gap.from_seq + 1
    return out


class ReplaySchedule:
    """When to ask which gate for a replay. A gap is asked for only once it has stood still for
    `grace` seconds (records may still be on their way, or a sibling instance may be storing them);
    unanswered asks back off exponentially from `initial` to `maximum`. Pure logic on an injected clock."""

    def __init__(self, clock: Clock, *, grace: float, initial: float, maximum: float):
        self._clock, self._grace, self._initial, self._max = clock, grace, initial, maximum
        self._missing: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._delay: dict[str, float] = {}

    def observe(self, gate: str, missing: int) -> None:
        """Tell the schedule how many seqs `gate` currently misses."""
        now = self._clock.monotonic()
        before = self._missing.get(gate)
        if missing <= 0:
            for d in (self._missing, self._next, self._delay):
                d.pop(gate, None)
            return
        self._missing[gate] = missing
        if before is None or missing > before:
            self._next[gate] = now + self._grace  # a new gap: give in-flight records a moment
            self._delay[gate] = self._initial
        elif missing < before:
            # Progress (live, backlog or our replay flowing in): wait until it stops, and the
            # replay evidently works, so the next unanswered ask starts from the short delay again.
            self._next[gate] = max(self._next[gate], now + self._grace)
            self._delay[gate] = self._initial

    def due(self) -> list[str]:
        now = self._clock.monotonic()
        return sorted(g for g, t in self._next.items() if now >= t)

    def asked(self, gate: str) -> None:
        """A replay was sent: wait the current delay before asking again, then double it."""
        delay = self._delay.get(gate, self._initial)
        self._next[gate] = self._clock.monotonic() + delay
        self._delay[gate] = min(delay * 2, self._max)

    def pending(self) -> dict[str, int]:
        return dict(self._missing)


RecordListener = Callable[[Received], None]
StatusListener = Callable[[GateState], None]


class StationConsumer:
    """Subscribes `P/+/event`, `P/+/alarm` (as `$share/GROUP/...` when `shared_group` is set),
    `P/+/status` and `P/+/cmd/result`; stores and tracks as described in the module docstring.

    `on_record(Received)` is called for every record received (check `outcome`), `on_status(GateState)`
    for every status or last will. Commands go out through `sender` (results are routed to it)."""

    def __init__(self, cfg: StationConfig, *, clock: Clock | None = None, client_id: str | None = None,
                 on_record: RecordListener | None = None, on_status: StatusListener | None = None,
                 store: StationStore | None = None, batch_size: int = 500):
        self.cfg = cfg
        self._clock = clock or SystemClock()
        self.client_id = client_id or default_client_id(cfg)
        self._on_record, self._on_status = on_record, on_status
        self._batch_size = batch_size
        self._owns_store = store is None
        self.store = store or StationStore(cfg.store, clock=self._clock, backfill_new_gates=cfg.backfill_new_gates)
        self.schedule = ReplaySchedule(self._clock, grace=cfg.grace_seconds, initial=cfg.retry_initial_seconds,
                                       maximum=cfg.retry_max_seconds)
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._closed = False
        self._worker: threading.Thread | None = None
        # Catch-up probes: records published while this console was not subscribed are invisible to
        # gap detection until the gate's next record. So after each (re)connect, ask every gate for a
        # bounded replay of what follows the highest seq we know; a full batch asks again. Once per
        # gate and connection: the gate journals every command, so a probe per status would add records.
        self._probe: dict[str, int | None] = {}  # gate -> to_seq of the probe in flight, None: due
        self._probed: set[str] = set()  # gates probed since the last (re)connect
        self._probe_cmds: dict[str, str] = {}  # cmd_id -> gate
        self._reprobe = threading.Event()
        self.stats = {"received": 0, "stored": 0, "duplicates": 0, "conflicts": 0, "invalid": 0, "replays": 0}
        self._client = make_client(cfg, self.client_id)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self._client.on_message = lambda c, u, msg: self._inbox.put((msg.topic, msg.payload))
        self.sender = CommandSender(self._client, cfg, clock=self._clock)

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
        return self._inbox.unfinished_tasks == 0

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
        self._reprobe.set()
        # Subscribe on every connect: with a clean session the broker forgot the subscriptions.
        client.subscribe([topic_qos(self.cfg, t) for t in self.topics()])

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("lost the broker %s:%s (%s); paho reconnects", self.cfg.host, self.cfg.port, reason_code)

    # -- worker ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = []
            try:
                batch.append(self._inbox.get(timeout=0.05))
                while len(batch) < self._batch_size:
                    batch.append(self._inbox.get_nowait())
            except queue.Empty:
                pass
            try:
                if batch:
                    self._process(batch)
                self._ask_replays()
            except Exception:  # a worker that dies silently would hide every later alarm
                log.exception("station consumer: processing failed; continuing")
            finally:
                for _ in batch:
                    self._inbox.task_done()

    def _process(self, batch: list[tuple[str, bytes]]) -> None:
        p = self.cfg.topic_prefix
        records: list[tuple[str, str, dict[str, Any]]] = []
        results: list[tuple[str, dict[str, Any]]] = []
        for topic, raw in batch:
            self.stats["received"] += 1
            if not topic.startswith(p + "/"):
                continue
            parts = topic[len(p) + 1:].split("/")
            gate = parts[0]
            try:
                payload = json.loads(raw)
                if len(parts) == 2 and parts[1] in ("event", "alarm"):
                    records.append((gate, parts[1], validate_record(gate, parts[1], payload)))
                elif len(parts) == 2 and parts[1] == "status":
                    self._status(gate, payload)
                elif parts[1:] == ["cmd", "result"] and isinstance(payload, dict):
                    results.append((gate, payload))
            except (ValueError, InputError) as exc:
                self.stats["invalid"] += 1
                log.warning("%s: ignored: %s", topic, exc)
        self._store_records(records)
        # Results after the records of the same batch, so a probe's result sees any replayed
        # records that came before it (the real gate answers first and republishes afterwards).
        for gate, payload in results:
            result = self.sender.handle_result(payload)
            if result is not None and not result.ok:
                log.warning("gate %s rejected command %s: %s", gate, result.cmd_id, result.error)
            if result is not None and result.cmd_id in self._probe_cmds:
                self._probe_done(self._probe_cmds.pop(result.cmd_id), result)

    def _store_records(self, records: list[tuple[str, str, dict[str, Any]]]) -> None:
        if not records:
            return
        outcomes = self.store.add_records(records)
        for (gate, kind, rec), outcome in zip(records, outcomes):
            key = {"new": "stored", "duplicate": "duplicates", "conflict": "conflicts"}[outcome]
            self.stats[key] += 1
            if outcome == "conflict":
                log.error("gate %s seq %s arrived with another id (%s): kept the first, set aside the other",
                          gate, rec["seq"], rec["id"])
            if self._on_record is not None:
                self._on_record(Received(gate, kind, rec, outcome))
        for gate in {r[0] for r in records}:
            self._observe(gate)
            probe_to = self._probe.get(gate)
            if probe_to is not None and self._top(gate) >= probe_to:
                self._probe[gate] = None  # the probe came back full: there may be more

    def _top(self, gate: str) -> int:
        state = self.store.gate_state(gate)
        return 0 if state is None else max(state.max_seq, state.reported_last_seq)

    def _probe_done(self, gate: str, result: CommandResult) -> None:
        """The gate answered a catch-up probe. Its answer names the range it republishes (`to_seq`
        clipped to its last seq; below `from_seq` when there is nothing after what we hold). A full
        batch keeps the probe open: once those records are stored, `_store_records` probes again."""
        probe_to = self._probe.get(gate)
        if probe_to is None or self._top(gate) >= probe_to:
            return
        coming_to = result.payload.get("to_seq")
        if result.ok and isinstance(coming_to, int) and not isinstance(coming_to, bool) and coming_to >= probe_to:
            return
        del self._probe[gate]

    def _status(self, gate: str, payload: Any) -> None:
        if isinstance(payload, dict) and payload.get("gate", gate) != gate:
            raise InputError(f"status names gate {payload.get('gate')!r}, not the topic's gate")
        state = self.store.set_status(gate, payload)
        self._observe(gate)
        # A gate first seen on this connection is probed; a later status (lockdown, fault, the gate's
        # reconnect) is not: its last_seq and the gate's own backlog delivery reveal any gap.
        if state.online and gate not in self._probed:
            self._probed.add(gate)
            self._probe.setdefault(gate, None)
        if self._on_status is not None:
            self._on_status(state)

    def _observe(self, gate: str) -> None:
        state = self.store.gate_state(gate)
        if state is not None and max(state.max_seq, state.reported_last_seq) <= state.contiguous:
            self.schedule.observe(gate, 0)  # the common case, one cheap query: nothing missing
            return
        self.schedule.observe(gate, sum(g.size for g in self.store.gaps(gate)))

    def _ask_replays(self) -> None:
        if not self._connected.is_set():
            return  # the schedule keeps its due gates until the link is back
        if self._reprobe.is_set():
            self._reprobe.clear()
            self._probe = {g.gate: None for g in self.store.gate_states()}
            self._probed = set(self._probe)
        for gate in [g for g, to in self._probe.items() if to is None]:
            top = self._top(gate)
            try:
                cmd = self.sender.publish(gate, "replay", {"from_seq": top + 1, "to_seq": top + self.cfg.max_batch},
                                          track=False)
            except (OSError, ValueError) as exc:  # no secret for this gate: it cannot be probed
                log.warning("cannot probe gate %s for records after %d: %s", gate, top, exc)
                del self._probe[gate]
                continue
            self._probe[gate] = top + self.cfg.max_batch
            self._probe_cmds[cmd["cmd_id"]] = gate
            self.store.note_replay(gate, top + 1, top + self.cfg.max_batch, cmd["cmd_id"])
            self.stats["replays"] += 1
        for gate in self.schedule.due():
            gaps = self.store.gaps(gate)  # fresh: a sibling sharing the store may have filled them
            self.schedule.observe(gate, sum(g.size for g in gaps))
            if not gaps:
                continue
            for from_seq, to_seq in plan_requests(gaps, self.cfg.max_batch):
                try:
                    cmd = self.sender.publish(gate, "replay", {"from_seq": from_seq, "to_seq": to_seq},
                                              track=False)
                except (OSError, ValueError) as exc:  # no secret file, unreadable secret
                    log.error("cannot ask gate %s for replay %d-%d: %s", gate, from_seq, to_seq, exc)
                    break
                self.store.note_replay(gate, from_seq, to_seq, cmd["cmd_id"])
                self.stats["replays"] += 1
                log.info("asked gate %s to replay %d-%d (%s)", gate, from_seq, to_seq, cmd["cmd_id"])
            self.schedule.asked(gate)


def default_client_id(cfg: StationConfig) -> str:
    """The configured client id, with host and pid appended unless a broker session is to be resumed
    (`session_expiry_seconds` > 0 and no shared group): with clean sessions a fixed id buys nothing,
    and two consoles on one id (say `watch` and `watch --json`) would take the id from each other
    on every reconnect. Instances of a shared subscription always need their own ids."""
    if cfg.shared_group or cfg.session_expiry_seconds == 0:
        return f"{cfg.client_id}-{socket.gethostname()}-{os.getpid()}"
    return cfg.client_id
