"""The station's SIA DC-09 forwarder: every alarm record the consumer stores (outcome NEW), and the
restores (`alarm_cleared`), queued for each `[[receivers]]` entry and sent by one link thread per
receiver (gate/dc09). `on_record` is a consumer listener and returns at once: it writes the
durable outbox and wakes the links, and never waits on a receiver."""
from __future__ import annotations

import logging
from typing import Any, Callable

from gate.clock import Clock
from gate.dc09.outbox import Outbox
from gate.dc09.service import Dc09Forwarder
from gate.station.config import StationConfig
from gate.station.store import open_station_store

log = logging.getLogger("gate.station.receivers")

NEW = "new"
CATCH_UP = 1000  # newest stored alarm records looked at on start


class StationForwarder:
    """Wraps a Dc09Forwarder built from the station config; `on_record(received)` for the consumer."""

    def __init__(self, cfg: StationConfig, *, clock: Clock | None = None):
        self.cfg = cfg
        self.forwarder = Dc09Forwarder(list(cfg.receivers), cfg.receivers_outbox, clock=clock,
                                       accounts=cfg.gate_accounts, zones=cfg.gate_zones, users=cfg.gate_users)

    def on_record(self, received) -> None:
        """Consumer listener (gate.station.consumer.Received): forwards what is newly stored."""
        if received.outcome != NEW:
            return  # a redelivery or a conflict was forwarded (or set aside) the first time
        if not received.verified:
            return  # no valid MAC by the gate's key: a claim, not the gate's word (its real record follows)
        record = received.record
        if record.get("origin") == "station" and record.get("type") == "alarm_acknowledged":
            record = {**record, "type": "alarm_cleared"}  # the station closing its own alarm: the restore
        self.forwarder.submit(record)

    def status(self) -> list[dict[str, Any]]:
        return self.forwarder.status()

    def catch_up(self, limit: int = CATCH_UP) -> int:
        """Queue the alarms (and restores) the store holds beyond the newest each gate has in the
        outbox: a station stopped between storing a record and queueing it loses nothing. A new
        outbox starts from now. The outbox ignores what it already has; returns how many were queued."""
        fwd = self.forwarder
        if fwd.fresh_outbox:
            return 0
        try:
            with open_station_store(self.cfg.store) as store:
                stored = store.recent("alarm", limit=limit) + [
                    r for r in store.recent("event", limit=limit) if r.type == "alarm_cleared"]
        except Exception:  # the catch-up is a safety net: the live path must start regardless
            log.exception("DC-09: could not read the store to catch up")
            return 0
        last: dict[str, int] = {}
        queued = 0
        for rec in sorted(stored, key=lambda r: (r.received_at, r.seq)):
            if rec.gate not in last:
                last[rec.gate] = fwd.outbox.last_seq_of(rec.gate) or 0
            if rec.seq > last[rec.gate] and rec.verified:
                queued += fwd.submit(rec.record)
        if queued:
            log.warning("DC-09: queued %d stored alarm record(s) that had not reached the outbox", queued)
        return queued

    def start(self) -> "StationForwarder":
        self.forwarder.start()
        return self

    def close(self) -> None:
        self.forwarder.close()

    def __enter__(self) -> "StationForwarder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach_receivers(cfg: StationConfig, listeners: list[Callable[[Any], None]], *,
                     clock: Clock | None = None) -> StationForwarder | None:
    """For the station's long-running commands: when `[[receivers]]` is configured, start the
    forwarder and append its `on_record` to `listeners`; returns it (close it on exit), else None."""
    if not cfg.receivers:
        return None
    fwd = StationForwarder(cfg, clock=clock)
    fwd.catch_up()
    fwd.start()
    listeners.append(fwd.on_record)
    log.info("forwarding alarms to %d DC-09 receiver(s): %s", len(cfg.receivers),
             ", ".join(r.name for r in cfg.receivers))
    return fwd


def fan_out(listeners: list[Callable[[Any], None]]) -> Callable[[Any], None]:
    """One consumer listener calling each of `listeners` (a failing one does not stop the others)."""
    def call(received) -> None:
        for listener in listeners:
            try:
                listener(received)
            except Exception:
                log.exception("record listener %r failed", listener)
    return call


def saved_status(cfg: StationConfig) -> dict[str, dict[str, Any]]:
    """What the running station last reported for each receiver link, read from the outbox file
    (for `gatectl station receivers status`, another process); pending counts are live."""
    with Outbox(cfg.receivers_outbox) as box:
        saved = box.saved_status()
        for r in cfg.receivers:
            entry = saved.setdefault(r.name, {"name": r.name, "state": "unknown"})
            entry["pending"] = box.count(r.name)
            entry["rejected_total"] = box.count(r.name, "rejected")
        return saved
