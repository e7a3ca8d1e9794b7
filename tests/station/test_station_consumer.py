"""The station consumer against real mosquitto and a fake gate that follows interface §4-5."""
from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from gate.uplink import signing
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.store import StationStore
from gate.station.view import JsonPrinter
from fakegate import PREFIX, FakeGate  # noqa: E402



def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until `predicate()` holds, re-checking on a short event wait; fail naming `what`."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.01)




@pytest.fixture
def secrets(tmp_path: Path):
    def make(gate: str) -> tuple[bytes, str]:
        path = tmp_path / f"{gate}.secret"
        path.write_text(uuid.uuid4().hex + "\n")
        return signing.load_secret(path), str(path)
    return make


@pytest.fixture
def station_cfg(broker, tmp_path: Path):
    def make(gates: dict[str, str], **overrides) -> StationConfig:
        base = StationConfig(client_id=f"station-{uuid.uuid4().hex[:6]}", store=str(tmp_path / "station.db"),
                             port=broker.port, topic_prefix=PREFIX, grace_seconds=0.1,
                             retry_initial_seconds=0.3, retry_max_seconds=1.0, gate_secrets=gates)
        return replace(base, **overrides)
    return make


@pytest.fixture
def gates(broker, secrets):
    made: list[FakeGate] = []

    def make(gate: str) -> tuple[FakeGate, str]:
        key, path = secrets(gate)
        g = FakeGate(broker.port, gate, key)
        made.append(g)
        return g, path
    yield make
    for g in made:
        try:
            g.close()
        except Exception:
            pass


def test_gaps_in_live_records_are_replayed_until_complete(gates, station_cfg):
    gate, secret = gates("north")
    with StationConsumer(station_cfg({"north": secret})) as consumer:
        # The catch-up probe after connecting finds nothing yet; what follows must be found as gaps.
        wait_for(lambda: consumer.store.replay_history("north")[0] == 1, what="catch-up probe")
        wait_for(lambda: len(gate.commands) == 1, what="probe answered")
        lost = {5, 6, 7, 12}
        for i in range(1, 21):
            gate.emit("forced_open" if i == 6 else "access_granted", publish=i not in lost, card="04A1B2C3")
        store = consumer.store
        wait_for(lambda: store.seqs("north") == list(range(1, 21)) and not store.gaps(), what="gaps filled")
        replays = [c for c in gate.commands if c["action"] == "replay"]
        assert replays, "the console must have asked for a replay"
        gap_asks = [(c["from_seq"], c["to_seq"]) for c in replays[1:]]
        assert (5, 7) in gap_asks and (12, 12) in gap_asks
        historical = {r.seq for r in store.recent(limit=50) if r.historical}
        assert lost <= historical
        assert store.gate_state("north").contiguous == 20
        assert store.replay_history("north")[0] == len(replays)


def test_tail_gap_from_status_last_seq_is_replayed(gates, station_cfg):
    gate, secret = gates("south")
    for _ in range(5):
        gate.emit("door_opened", publish=False)  # journaled while the broker lost everything
    gate.publish_status()  # retained, last_seq 5: the console learns of them only from here
    with StationConsumer(station_cfg({"south": secret})) as consumer:
        wait_for(lambda: consumer.store.seqs("south") == [1, 2, 3, 4, 5], what="tail replayed")
        assert consumer.store.gaps("south") == []
        assert {r.historical for r in consumer.store.recent(limit=10)} == {True}


def test_redelivered_records_are_stored_and_printed_once(gates, station_cfg):
    gate, secret = gates("east")
    out = io.StringIO()
    with StationConsumer(station_cfg({"east": secret}), on_record=JsonPrinter(out)) as consumer:
        recs = [gate.emit("access_granted", card="04A1B2C3") for _ in range(3)]
        gate.publish_record(recs[1])  # QoS 1 redelivery: same record again
        gate.publish_record({**recs[2], "historical": True})  # and once more from a replay
        marker = gate.emit("exit_request")
        wait_for(lambda: consumer.stats["received"] >= 6 and consumer.idle(), what="all six processed")
        assert consumer.store.seqs("east") == [1, 2, 3, 4]
        assert consumer.stats["stored"] == 4 and consumer.stats["duplicates"] == 2
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [r["seq"] for r in lines] == [1, 2, 3, 4]
        assert lines[-1] == marker
        stored = consumer.store.recent(limit=10)
        assert next(r for r in stored if r.seq == 3).historical is False  # the first copy stays


def test_conflicting_record_keeps_the_first_and_is_set_aside(gates, station_cfg):
    gate, secret = gates("west")
    with StationConsumer(station_cfg({"west": secret})) as consumer:
        first = gate.emit("access_granted")
        gate.publish_record({**first, "id": "forged", "type": "access_refused"})
        wait_for(lambda: consumer.stats["conflicts"] == 1, what="conflict noticed")
        assert consumer.store.recent(limit=5)[0].record["id"] == first["id"]


def test_last_will_marks_a_gate_offline(gates, station_cfg):
    gate, secret = gates("gucun-47-north")
    states = []
    with StationConsumer(station_cfg({"gucun-47-north": secret}), on_status=states.append) as consumer:
        wait_for(lambda: consumer.store.gate_state("gucun-47-north") is not None
                 and consumer.store.gate_state("gucun-47-north").online is True, what="online")
        gate.crash()
        wait_for(lambda: consumer.store.gate_state("gucun-47-north").online is False, what="offline from the will")
        assert states[-1].online is False and states[-1].gate == "gucun-47-north"


def test_records_missed_before_subscribing_are_fetched_by_the_catch_up_probe(gates, station_cfg):
    gate, secret = gates("quiet")
    for _ in range(3):
        gate.emit("access_granted")  # nobody subscribed yet; the retained status still says last_seq 0
    with StationConsumer(station_cfg({"quiet": secret}, max_batch=2)) as consumer:
        wait_for(lambda: consumer.store.seqs("quiet") == [1, 2, 3], what="probed records")
        probes = [(c["from_seq"], c["to_seq"]) for c in gate.commands if c["action"] == "replay"]
        assert probes[:2] == [(1, 2), (3, 4)]  # a full batch came back, so it asked again


def test_records_naming_another_gate_are_rejected(gates, station_cfg):
    gate, secret = gates("a")
    with StationConsumer(station_cfg({"a": secret})) as consumer:
        gate.client.publish(gate.topic("event"), json.dumps(
            {"gate": "b", "seq": 1, "id": "x", "ts": "2026-11-29T10:00:00.000Z", "type": "door_opened"}), qos=1)
        gate.client.publish(gate.topic("event"), b"not json", qos=1)
        wait_for(lambda: consumer.stats["invalid"] == 2, what="both rejected")
        assert consumer.store.count() == 0


def test_two_instances_share_a_subscription_and_store_each_record_once(gates, station_cfg, tmp_path):
    fakes = [gates(f"g{i}") for i in range(3)]
    secret_map = {g.gate: path for g, path in fakes}
    cfg = station_cfg(secret_map, shared_group="officers")
    with StationConsumer(cfg, client_id="station-a") as a, StationConsumer(cfg, client_id="station-b") as b:
        assert a.topics()[0] == f"$share/officers/{PREFIX}/+/event"
        for n in range(200):
            for g, _ in fakes:
                g.emit("fever" if n % 50 == 0 else "access_granted", temperature_c=38.0)
        with StationStore(cfg.store) as store:
            wait_for(lambda: store.count() == 600 and not store.gaps(), what="600 records, no gaps")
            for g, _ in fakes:
                assert store.seqs(g.gate) == list(range(1, 201))
        assert a.stats["stored"] > 0 and b.stats["stored"] > 0, "the broker must split the load"
        assert a.stats["stored"] + b.stats["stored"] == 600  # each record stored exactly once across both
