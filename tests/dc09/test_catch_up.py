"""Nothing is lost between storing a record and queueing it: on start, the station (from its store)
and the gate (from its journal) queue the alarms that follow the newest one the outbox holds."""
from __future__ import annotations

import types
import uuid
from datetime import datetime, timezone

import pytest

from gate.clock import SystemClock
from gate.config.schema import parse_config
from gate.dc09.link import ReceiverSettings
from gate.dc09.outbox import Outbox
from gate.runtime.receivers_setup import OUTBOX, attach_receivers as attach_gate
from gate.station.config import StationConfig
from gate.station.receivers import attach_receivers
from gate.station.store import StationStore
from gate.store.journal import Journal
from siareceiver import SiaReceiver

pytest.importorskip("pysiaalarm")


def rec(gate: str, seq: int, type_: str, **fields) -> dict:
    return {"gate": gate, "seq": seq, "id": uuid.uuid4().hex, "type": type_, "historical": False,
            "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"), **fields}


def test_station_queues_stored_alarms_that_never_reached_the_outbox(tmp_path):
    with SiaReceiver({"4701": None}) as rx:
        r = ReceiverSettings(name="arc", addresses=(("127.0.0.1", rx.port),), account="4701", supervision_seconds=0)
        cfg = StationConfig(store=str(tmp_path / "station.db"), receivers=(r,),
                            receivers_outbox=str(tmp_path / "out.db"))
        with StationStore(cfg.store) as store:
            store.add_records([("north", "alarm", rec("north", 1, "forced_open"))])
            # seq 1 went out before the crash; 2 and 3 were stored, then the station died.
            with Outbox(cfg.receivers_outbox) as box:
                box.enqueue("arc", "north#1", "ADM-CID", "4701", "#4701|1423 01 001", "E423", "x")
                box.finish(1, "acked", "x")
            store.add_records([("north", "alarm", rec("north", 2, "tamper", device="sensor-5")),
                               ("north", "event", rec("north", 3, "alarm_cleared", alarm="tamper", device="sensor-5")),
                               ("north", "event", rec("north", 4, "door_closed"))])
        fwd = attach_receivers(cfg, [])
        try:
            events = rx.wait(lambda ev: len(ev) >= 2, what="the two records caught up")
        finally:
            fwd.close()
    assert [(e["event_qualifier"], e["event_type"], e["ri"]) for e in events] == [("1", "137", "005"), ("3", "137", "005")]


def test_a_new_station_outbox_starts_from_now(tmp_path):
    r = ReceiverSettings(name="arc", addresses=(("127.0.0.1", 9),), account="4701", supervision_seconds=0)
    cfg = StationConfig(store=str(tmp_path / "station.db"), receivers=(r,), receivers_outbox=str(tmp_path / "out.db"))
    with StationStore(cfg.store) as store:
        store.add_records([("north", "alarm", rec("north", 1, "forced_open"))])
    fwd = attach_receivers(cfg, [])
    try:
        assert fwd.forwarder.outbox.count("arc") == 0
    finally:
        fwd.close()


def test_gate_queues_journaled_alarms_after_the_newest_queued(tmp_path):
    cfg = parse_config({"gate": {"id": "south"}, "storage": {"dir": str(tmp_path)}, "mqtt": {"enabled": False},
                        "receivers": [{"name": "arc", "port": 9, "account": "4702", "supervision_seconds": 0,
                                       "retry_initial_seconds": 5, "retry_max_seconds": 5}]}, tmp_path)
    with Journal(tmp_path / "journal.db", "south") as journal:
        journal.append("forced_open")
        with Outbox(tmp_path / OUTBOX) as box:
            box.enqueue("arc", "south#1", "ADM-CID", "4702", "#4702|1423 01 001", "E423", "x")
        journal.append("door_closed")
        journal.append("tamper", {"device": "enclosure"})  # journaled, never queued: the process died
        controller = types.SimpleNamespace(record_listeners=[])
        fwd = attach_gate(cfg, controller, journal, clock=SystemClock())
        try:
            assert [i.source for i in fwd.forwarder.outbox.items("arc")] == ["south#1", "south#3"]
            assert len(controller.record_listeners) == 1
        finally:
            fwd.close()
