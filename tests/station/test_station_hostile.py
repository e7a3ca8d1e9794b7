"""F2/F18: hostile input from one gate's topics never costs another gate's alarms at the station:
each message is checked on its own, the store writes each record under its own savepoint, and the
inbox is bounded in messages and bytes, fair between gates, alarms first."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gate.clock import FakeClock
from gate.core.errors import InputError
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.inbox import ALARM, OTHER, Inbox
from gate.station.intake import MAX_DEPTH, MAX_PAYLOAD_BYTES, GateCounters, parse_payload
from gate.station.store import INVALID, NEW, StationStore, validate_record
from gate.uplink import signing
from fakegate import PREFIX, FakeGate


def rec(gate: str, seq, type_: str = "forced_open", **extra) -> dict:
    return {"gate": gate, "seq": seq, "id": uuid.uuid4().hex, "ts": "2026-12-01T00:00:00.000Z", "type": type_,
            "historical": False, **extra}


# --- the checks, one message at a time ------------------------------------------------------------
@pytest.mark.parametrize("raw, message", [
    (b"[" * 3000 + b"]" * 3000, "nested deeper"),
    (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "nested deeper"),
    (json.dumps({"gate": "g", "seq": 1, "x": [2**64]}).encode(), "outside the 64-bit range"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{nope", "not JSON"),
    (b"1" * 5000, "not JSON"),  # beyond Python's 4,300-digit int limit
    (b" " * (MAX_PAYLOAD_BYTES + 1), "larger than"),
])
def test_hostile_payloads_are_refused_naming_why(raw, message):
    with pytest.raises(InputError, match=message):
        parse_payload(raw)


@pytest.mark.parametrize("seq", [0, 2**63, 2**64, -1, True, 1.5, "1"])
def test_seq_outside_sqlite_range_or_of_the_wrong_type_is_refused(seq):
    with pytest.raises(InputError, match="seq must be an integer from 1 to 2\\*\\*63-1"):
        validate_record("g", "event", rec("g", seq))


def test_the_largest_seq_is_accepted_and_other_fields_are_type_checked():
    assert validate_record("g", "event", rec("g", 2**63 - 1))["seq"] == 2**63 - 1
    with pytest.raises(InputError, match="historical must be a boolean"):
        validate_record("g", "event", {**rec("g", 1), "historical": "yes"})
    with pytest.raises(InputError, match="id must be a string of 1-128"):
        validate_record("g", "event", {**rec("g", 1), "id": "x" * 129})


def test_status_last_seq_beyond_64_bits_is_refused(tmp_path):
    with StationStore(tmp_path / "s.db") as store:
        with pytest.raises(InputError, match="last_seq must be an integer from 0 to 2\\*\\*63-1"):
            store.set_status("g", {"online": True, "gate": "g", "last_seq": 2**64})


def test_a_record_sqlite_refuses_rolls_back_alone(tmp_path):
    """A lone surrogate passes JSON but not SQLite's UTF-8: that record is INVALID, its batch stays."""
    with StationStore(tmp_path / "s.db") as store:
        good = [rec("b", 1), rec("b", 2)]
        out = store.add_records([("b", "alarm", good[0]), ("a", "event", rec("a", 1, note="\ud800")),
                                 ("b", "alarm", good[1])])
        assert out == [NEW, INVALID, NEW]
        assert store.seqs("b") == [1, 2] and store.seqs("a") == []
        assert "UnicodeEncodeError" in store.last_invalid


def test_counters_are_per_gate_and_log_at_most_every_interval(caplog):
    import logging
    clock = FakeClock()
    counters = GateCounters(clock, logging.getLogger("t.counters"), "bad", interval=10.0)
    with caplog.at_level(logging.WARNING, logger="t.counters"):
        for _ in range(100):
            counters.add("gA", "poison")
        counters.add("gB", "one")
        clock.advance(10.0)
        counters.add("gA", "poison")
    assert counters.counts == {"gA": 101, "gB": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["gate gA: bad: poison", "gate gB: bad: one", "gate gA: bad: poison (and 99 more since the last report)"]


# --- the inbox ----------------------------------------------------------------------------------
def test_inbox_is_bounded_and_drops_events_before_alarms():
    box = Inbox(per_gate_messages=3, per_gate_bytes=10_000, total_messages=100, total_bytes=100_000)
    for i in range(3):
        assert box.put("gA", OTHER, "P/gA/event", b"e%d" % i)
    assert box.put("gA", OTHER, "P/gA/event", b"e3") is False  # the gate's share is full
    for i in range(3):  # alarms evict the gate's newest events
        assert box.put("gA", ALARM, "P/gA/alarm", b"a%d" % i)
    assert box.put("gA", ALARM, "P/gA/alarm", b"a3") is False  # only alarms left: now one goes
    assert box.size[0] == 3
    assert box.take_drops() == {"gA": {"alarm": 1, "other": 4}}
    assert [p for _, p in box.get_batch(10, 0)] == [b"a0", b"a1", b"a2"]
    assert box.take_drops() == {}


def test_inbox_bytes_bound_and_total_bound_evict_the_fullest_gates_events_for_an_alarm():
    box = Inbox(per_gate_messages=100, per_gate_bytes=1_000, total_messages=100, total_bytes=1_500)
    assert box.put("gA", OTHER, "t", b"x" * 900)
    assert box.put("gA", OTHER, "t", b"x" * 200) is False  # gA's bytes
    assert box.put("gB", OTHER, "t", b"y" * 500)
    assert box.put("gB", OTHER, "t", b"y" * 200) is False  # the total's bytes
    assert box.put("gC", ALARM, "t", b"!" * 300)  # evicts the fullest gate's (gA's) event
    assert [p[:1] for _, p in box.get_batch(10, 0)] == [b"!", b"y"]
    assert box.take_drops() == {"gA": {"alarm": 0, "other": 2}, "gB": {"alarm": 0, "other": 1}}


def test_inbox_serves_every_gates_alarms_round_robin_before_other_messages():
    box = Inbox()
    for i in range(1000):
        box.put("flood", OTHER, "P/flood/event", b"%d" % i)
    for i in range(50):
        box.put("flood", ALARM, "P/flood/alarm", b"fa%d" % i)
    box.put("quiet", ALARM, "P/quiet/alarm", b"qa")
    box.put("quiet", OTHER, "P/quiet/event", b"qe")
    first = [p for _, p in box.get_batch(4, 0)]
    assert first == [b"fa0", b"qa", b"fa1", b"fa2"]  # the quiet gate's alarm is not behind the flood's
    rest = box.get_batch(100, 0)
    assert rest[46][1] == b"fa49" and rest[47][1] == b"0" and rest[48][1] == b"qe" and rest[49][1] == b"1"
    assert box.unfinished == 1052  # taken is not done
    box.task_done(len(first) + len(rest))  # what the worker does after processing its batches
    assert box.unfinished == 948 and box.size[0] == 948


# --- against mosquitto: gate A poisons its own topics, gate B's alarms all arrive -------------------
POISON = [
    ("event", json.dumps(rec("gA", 2**64, "door_opened")).encode()),
    ("alarm", json.dumps(rec("gA", 2**64)).encode()),
    ("status", json.dumps({"online": True, "gate": "gA", "last_seq": 2**64}).encode()),
    ("event", b"[" * 3000 + b"]" * 3000),
    ("alarm", b'{"gate":"gA","seq":1,"x":' * 40 + b"1" + b"}" * 40),
    ("event", b"{" + b'"k":"' + b"x" * (MAX_PAYLOAD_BYTES + 10) + b'"}'),
    ("cmd/result", b"[" * 5000),
    ("event", json.dumps(rec("gA", 3, note="\ud800")).encode()),
]


@pytest.fixture
def site(broker, tmp_path: Path):
    secret = tmp_path / "gB.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    gate_b = FakeGate(broker.port, "gB", signing.load_secret(secret))
    poisoner = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gA-{uuid.uuid4().hex[:6]}")
    poisoner.connect("127.0.0.1", broker.port)
    poisoner.loop_start()
    cfg = StationConfig(client_id=f"station-{uuid.uuid4().hex[:6]}", store=str(tmp_path / "station.db"),
                        port=broker.port, topic_prefix=PREFIX, grace_seconds=0.2, retry_initial_seconds=0.5,
                        retry_max_seconds=1.0, gate_secrets={"gB": str(secret)})
    try:
        yield cfg, gate_b, poisoner
    finally:
        poisoner.loop_stop()
        poisoner.disconnect()
        gate_b.close()


def test_one_batch_holding_every_poison_still_stores_the_other_gates_alarms(site):
    """Deterministic: the worker is held on B's first alarm while all the poison and B's other 19
    alarms queue up, so they are processed in one batch."""
    cfg, gate_b, poisoner = site
    hold, held = threading.Event(), threading.Event()
    seen = []

    def listener(item):
        seen.append(item)
        if item.record["seq"] == 1 and item.gate == "gB":
            held.set()
            hold.wait(10)

    with StationConsumer(cfg, on_record=listener) as consumer:
        gate_b.emit("forced_open")
        assert held.wait(10), "the first alarm did not arrive"
        for n in range(2, 21):
            for leaf, payload in POISON:
                poisoner.publish(f"{PREFIX}/gA/{leaf}", payload, qos=1).wait_for_publish(5)
            gate_b.emit("forced_open" if n % 2 else "duress")
        deadline = time.monotonic() + 10
        while consumer._inbox.size[0] < 19 + 19 * (len(POISON) - 1) and time.monotonic() < deadline:
            threading.Event().wait(0.01)  # everything is queued behind the held worker (oversized ones never are)
        hold.set()
        deadline = time.monotonic() + 10
        while not (consumer.idle() and consumer.store.count("gB") == 20) and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert consumer.store.seqs("gB") == list(range(1, 21))
        # Every alarm reached the listeners as new (replies to the console's catch-up probe may add duplicates).
        assert sorted(r.record["seq"] for r in seen if r.gate == "gB" and r.outcome == "new") == list(range(1, 21))
        assert all(r.verified for r in seen if r.gate == "gB")
        assert consumer.store.count("gA") == 0
        assert consumer.invalid.counts["gA"] == 19 * len(POISON)  # every poison counted, for its gate
        assert "gB" not in consumer.invalid.counts


def test_a_poison_flood_at_2000_per_second_delays_no_alarm_of_another_gate(site):
    cfg, gate_b, poisoner = site
    seen = []
    stop = threading.Event()

    def flood():
        i = 0
        while not stop.is_set():
            leaf, payload = POISON[i % len(POISON)]
            poisoner.publish(f"{PREFIX}/gA/{leaf}", payload, qos=0)
            i += 1
            if i % 20 == 0:
                stop.wait(0.01)

    with StationConsumer(cfg, on_record=seen.append) as consumer:
        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            for _ in range(20):
                gate_b.emit("forced_open")
                stop.wait(0.02)
            deadline = time.monotonic() + 15
            while consumer.store.count("gB") < 20 and time.monotonic() < deadline:
                threading.Event().wait(0.01)
        finally:
            stop.set()
            flooder.join(5)
        assert consumer.store.seqs("gB") == list(range(1, 21))
        assert len({r.record["seq"] for r in seen if r.gate == "gB"}) == 20
        assert consumer.invalid.counts.get("gA", 0) > 0
