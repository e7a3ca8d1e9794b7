"""Replay pacing: the global budget in records/s, alarm-losing gates first, no asks while the station
is behind. The asker is driven pass by pass on a fake clock over a real SQLite store; its signed asks
go through a real mosquitto to a listener standing in for the gates (it only counts them)."""
from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gate.clock import FakeClock
from gate.core.errors import ConfigError
from gate.station.commands import CommandSender, make_client
from gate.station.config import StationConfig, parse_station_config
from gate.station.replay_ask import ReplayAsker
from gate.station.replay_lease import NoLease, lease_for
from gate.station.replay_schedule import ReplayBudget
from gate.station.store import StationStore
from gatefixture import wait_for

PREFIX = "compound"


class AskCounter:
    """Subscribes every gate's command topic and keeps the replay asks in arrival order."""

    def __init__(self, port: int):
        self.asks: list[tuple[str, int, int]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"asks-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/+/cmd", qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _message(self, client, userdata, msg) -> None:
        cmd = json.loads(msg.payload)
        self.asks.append((cmd["gate"], cmd["from_seq"], cmd["to_seq"]))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def rig(broker, tmp_path: Path):
    """(asker factory, counter, store, clock): gates g0..g4 each known to hold 1..10, none stored."""
    clock = FakeClock(wall=datetime.now(timezone.utc))
    gates = [f"g{i}" for i in range(5)]
    secrets = {}
    for g in gates:
        (tmp_path / f"{g}.secret").write_text(uuid.uuid4().hex + "\n")
        secrets[g] = str(tmp_path / f"{g}.secret")
    store = StationStore(str(tmp_path / "station.db"), clock=clock)
    for g in gates:
        store.set_status(g, {"online": True, "last_seq": 10})
    counter = AskCounter(broker.port)
    client = make_client(StationConfig(port=broker.port), f"station-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    made = []

    def make(inbox=lambda: 0, **cfg) -> ReplayAsker:
        config = StationConfig(port=broker.port, topic_prefix=PREFIX, gate_secrets=secrets, grace_seconds=0.0,
                               retry_initial_seconds=5.0, retry_max_seconds=60.0, **cfg)
        asker = ReplayAsker(config, clock, store, CommandSender(client, config, clock=clock), lease=NoLease(),
                            stats=defaultdict(int), inbox_size=inbox)
        for g in gates:
            asker.observe(g)
        made.append(asker)
        return asker
    yield make, counter, store, clock
    counter.close()
    client.disconnect()
    client.loop_stop()
    store.close()


def test_budget_refills_at_its_rate_and_never_lends():
    clock = FakeClock()
    budget = ReplayBudget(clock, rate=100, burst=500)
    assert budget.take(500) and not budget.take(1)
    clock.advance(2.0)
    assert not budget.take(201) and budget.take(200)  # a refused take costs nothing
    clock.advance(3600)
    assert budget.available == 500  # an idle hour does not buy a storm


def test_asks_are_paced_by_the_global_budget(rig):
    make, counter, store, clock = rig
    asker = make(max_batch=10, replay_budget_records_per_second=10)  # burst: one ask of 10
    asker.run()
    asker.run()  # the clock has not moved: the budget is spent
    wait_for(lambda: len(counter.asks) == 1, 10.0, what="the first ask")
    assert asker.stats["gap_asks"] == 1
    clock.advance(0.5)
    asker.run()
    assert asker.stats["gap_asks"] == 1, "half the records' worth of budget buys no ask of 10"
    clock.advance(0.5)
    asker.run()
    assert asker.stats["gap_asks"] == 2
    clock.advance(3.0)  # three more asks' worth, but the bucket holds one
    asker.run()
    assert asker.stats["gap_asks"] == 3
    wait_for(lambda: len(counter.asks) == 3, 10.0, what="three asks")
    assert [a[0] for a in counter.asks] == ["g0", "g1", "g2"]  # waiting longest (then by name) first
    assert all((fr, to) == (1, 10) for _, fr, to in counter.asks)
    assert store.replay_history("g3")[0] == 0


def test_a_gate_whose_alarms_were_dropped_is_asked_first(rig):
    make, counter, store, clock = rig
    asker = make(max_batch=10, replay_budget_records_per_second=10)
    asker.alarms_dropped("g4")
    asker.run()
    wait_for(lambda: len(counter.asks) == 1, 10.0, what="one ask")
    assert counter.asks[0][0] == "g4"
    store.add_records([("g4", "alarm", {"gate": "g4", "seq": s, "id": f"i{s}", "ts": "2026-12-02T10:00:00.000Z",
                                        "type": "forced_open"}) for s in range(1, 11)])
    asker.stored("g4")
    assert "g4" not in asker.alarm_priority  # filled: no longer first


def test_no_asks_while_the_inbox_is_behind(rig):
    make, counter, store, clock = rig
    queued = [5000]
    asker = make(max_batch=10, inbox=lambda: queued[0])
    asker.run()
    assert asker.stats["gap_asks"] == 0 and store.replay_history("g0")[0] == 0
    queued[0] = 3
    asker.run()
    assert asker.stats["gap_asks"] == 5  # the default budget (1,000/s) pays all five
    wait_for(lambda: len(counter.asks) == 5, 10.0, what="five asks")


def test_sqlite_store_has_no_lease(tmp_path):
    with StationStore(str(tmp_path / "s.db")) as store:
        assert isinstance(lease_for(store, "me", FakeClock()), NoLease)


def test_budget_key_is_checked_and_named():
    cfg = parse_station_config({"replay": {"budget_records_per_second": 250}})
    assert cfg.replay_budget_records_per_second == 250.0
    assert StationConfig().replay_budget_records_per_second == 1000.0
    with pytest.raises(ConfigError, match="replay.budget_records_per_second: must be between 1 and 1000000"):
        parse_station_config({"replay": {"budget_records_per_second": 0}})
