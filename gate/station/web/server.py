"""`gatectl station -c STATION.toml serve`: the consumer and the web console in one process.

The web console starts at once and stays up; a link supervisor thread (re)builds the consumer until
the broker answers, with backoff, so a station started before its broker waits instead of exiting,
and the page says "the station has lost its broker" meanwhile. Once connected, paho reconnects by
itself. SIGTERM/SIGINT stop uvicorn, then the consumer.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import uvicorn

from gate.station.accounts import Accounts
from gate.station.commands import StationLinkError
from gate.station.config import StationConfig
from gate.station.console_store import ConsoleStore
from gate.station.consumer import Received, StationConsumer
from gate.station.receivers import attach_receivers, fan_out
from gate.station.retention import Pruner
from gate.station.snapshots import SnapshotStore, SnapshotTaker
from gate.station.store import NEW
from gate.station.web.app import create_app
from gate.station.web.context import Console
from gate.station.web.events import EventHub

log = logging.getLogger("gate.station.serve")


class LinkSupervisor:
    """Keeps a StationConsumer running: retries `start` with backoff (1 s doubling to 30 s) until the
    broker answers, then holds it until `stop()`. `consumer` is None while not started."""

    def __init__(self, cfg: StationConfig, hub: EventHub, *, connect_timeout: float = 5.0,
                 on_record: Any = None):
        self.cfg, self.hub = cfg, hub
        self.consumer: StationConsumer | None = None
        self._stop = threading.Event()
        self._timeout = connect_timeout
        self._extra = on_record
        self._thread = threading.Thread(target=self._run, name="station-link", daemon=True)
        self.taker: SnapshotTaker | None = None

    def _on_record(self, item: Received) -> None:
        if item.outcome == NEW:
            self.hub.publish(item.gate, item.record)
            if item.kind == "alarm" and self.taker is not None:
                self.taker.alarm(item.gate, item.record["seq"])  # enqueues only: cameras never delay alarms
        if self._extra is not None:
            self._extra(item)

    def start(self) -> "LinkSupervisor":
        self._thread.start()
        return self

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            consumer = StationConsumer(self.cfg, on_record=self._on_record)
            try:
                consumer.start(timeout=self._timeout)
            except StationLinkError as exc:
                log.warning("%s; retrying in %g s", exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 30.0)
                continue
            self.consumer = consumer
            log.info("station connected to broker %s:%s", self.cfg.host, self.cfg.port)
            self._stop.wait()
            return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._timeout + 5)
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.close()
        if self.taker is not None:
            self.taker.close()


class ConsoleServer(uvicorn.Server):
    """uvicorn that ends the event streams first on SIGTERM/SIGINT (so shutdown does not wait on them)
    and then exits 0 like `gatectl run`, instead of re-raising the signal after shutdown."""

    def __init__(self, config: uvicorn.Config, hub: EventHub):
        super().__init__(config)
        self._hub = hub

    def handle_exit(self, sig, frame) -> None:
        self._hub.close()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C
        self.should_exit = True

    def stop(self) -> None:
        self._hub.close()
        self.should_exit = True


def uvicorn_config(app, cfg: StationConfig) -> uvicorn.Config:
    return uvicorn.Config(app, host=cfg.web.host, port=cfg.web.port, log_level="warning",
                          timeout_graceful_shutdown=2, lifespan="off")


def build_console(cfg: StationConfig, link: LinkSupervisor) -> Console:
    """The console's stores over the station's store file; `link.taker` gets the camera frames."""
    accounts = Accounts(cfg.store, session_hours=cfg.web.session_hours)
    store = ConsoleStore(cfg.store, gate_names={g: cfg.gate_name(g) for g in cfg.gate_info},
                         gate_compounds={g: i.compound for g, i in cfg.gate_info.items()},
                         escalate_after_seconds=cfg.web.escalate_after_seconds)
    snapshots = SnapshotStore(cfg.store)
    link.taker = SnapshotTaker(cfg, snapshots)
    return Console(cfg=cfg, accounts=accounts, store=store, hub=link.hub, link=lambda: link.consumer,
                   snapshots=snapshots)


def serve(cfg: StationConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    hub = EventHub()
    listeners: list = []
    forwarder = attach_receivers(cfg, listeners)  # [[receivers]]: alarms also go out over DC-09 (§6.2)
    link = LinkSupervisor(cfg, hub, on_record=fan_out(listeners) if listeners else None).start()
    pruner = Pruner(cfg).start()  # retention (station.retain_days), on its own thread and connection
    console = build_console(cfg, link)
    if forwarder is not None:
        console.receivers = forwarder.status
    server = ConsoleServer(uvicorn_config(create_app(console), cfg), hub)
    print(f"station console on http://{cfg.web.host}:{cfg.web.port}/ (broker {cfg.host}:{cfg.port})", flush=True)
    try:
        server.run()
    finally:
        link.stop()
        pruner.stop()
        if forwarder is not None:
            forwarder.close()
        for db in (console.store, console.accounts, console.snapshots):
            db.close()
    return 0 if server.started else 3
