"""The station forwarder end to end: a fake gate on a real mosquitto, the station consumer storing
its records, and pysiaalarm (the independent receiver) getting the alarms over DC-09."""
from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from gate.dc09.link import ReceiverSettings
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.receivers import StationForwarder, attach_receivers, fan_out
from gate.uplink import signing
from fakegate import PREFIX, FakeGate
from hostile import HostileReceiver
from siareceiver import SiaReceiver, SiaReceiverProcess

pytest.importorskip("pysiaalarm")

KEY = "00112233445566778899AABBCCDDEEFF"
# The outage is 30 s; DC09_OUTAGE_SECONDS shortens it for a quick local run.
OUTAGE_SECONDS = float(os.environ.get("DC09_OUTAGE_SECONDS", "30"))


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.01)
    return value


@pytest.fixture
def station(broker, tmp_path: Path):
    """(make_config, make_gate): a station config for one gate with the given receivers."""
    gates: list[FakeGate] = []

    def make_gate(gate: str) -> tuple[FakeGate, str]:
        path = tmp_path / f"{gate}.secret"
        path.write_text(uuid.uuid4().hex + "\n")
        g = FakeGate(broker.port, gate, signing.load_secret(path))
        gates.append(g)
        return g, str(path)

    def make_config(secrets: dict[str, str], receivers: list[ReceiverSettings], **kw) -> StationConfig:
        return StationConfig(client_id=f"station-{uuid.uuid4().hex[:6]}", store=str(tmp_path / "station.db"),
                             port=broker.port, topic_prefix=PREFIX, grace_seconds=0.1, retry_initial_seconds=0.3,
                             retry_max_seconds=1.0, gate_secrets=secrets, receivers=tuple(receivers),
                             receivers_outbox=str(tmp_path / "station-dc09.db"), **kw)

    yield make_config, make_gate
    for g in gates:
        g.close()


def receiver(port: int, **kw) -> ReceiverSettings:
    base = dict(name="arc", addresses=(("127.0.0.1", port),), account="1234", supervision_seconds=0,
                ack_timeout_seconds=2.0, retry_initial_seconds=0.1, retry_max_seconds=0.5)
    base.update(kw)
    return ReceiverSettings(**base)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes128-key"])
def test_a_gates_forced_opening_duress_and_tamper_reach_the_receiver(station, encrypted):
    make_config, make_gate = station
    key = KEY[:16] if encrypted else None
    gate, secret = make_gate("gucun-47-north")
    with SiaReceiver({"4701": key}) as rx:
        cfg = make_config({"gucun-47-north": secret}, [receiver(rx.port, account="", key=key.encode() if key else None)],
                          gate_accounts={"gucun-47-north": "4701"})
        listeners: list = []
        fwd = attach_receivers(cfg, listeners)
        try:
            with StationConsumer(cfg, on_record=fan_out(listeners)) as consumer:
                gate.emit("access_granted", card="04A1B2C3")
                gate.emit("forced_open")
                gate.emit("duress", guard="guard-3", source="keypad")
                gate.emit("tamper", device="enclosure")
                first = gate.emit("forced_open")
                gate.publish_record(first)  # a QoS 1 redelivery: stored once, so sent once
                rx.wait(lambda ev: len(ev) >= 4, what="four alarms at the receiver")
                wait_for(lambda: consumer.stats["duplicates"] >= 1 and consumer.idle(), what="redelivery seen")  # (and the probe's replay)
                wait_for(lambda: fwd.status()[0]["pending"] == 0, what="outbox drained")
        finally:
            fwd.close()
    got = [(e["account"], e["event_type"], e["code"], e["ri"], e["encrypted"]) for e in rx.events]
    assert got == [("4701", "423", "DF", "001", encrypted), ("4701", "121", "HA", "003", encrypted),
                   ("4701", "137", "TA", "001", encrypted), ("4701", "423", "DF", "001", encrypted)]


def test_receiver_down_30s_while_20_alarms_happen_all_arrive_in_order_once(station):
    """pysiaalarm is killed (every connection dies with it) and stays away OUTAGE_SECONDS while the
    gate raises 20 alarms; they wait in the outbox and all arrive after it returns, in order, each once."""
    make_config, make_gate = station
    gate, secret = make_gate("west")
    rx = SiaReceiverProcess({"1234": KEY}).start()
    cfg = make_config({"west": secret}, [receiver(rx.port, key=KEY.encode(), retry_max_seconds=1.0)])
    try:
        with StationForwarder(cfg) as fwd, StationConsumer(cfg, on_record=fwd.on_record) as consumer:
            gate.emit("forced_open")
            rx.wait(lambda ev: len(ev) == 1, what="the first alarm before the outage")
            rx.kill()
            started = time.monotonic()
            for i in range(1, 21):
                gate.emit("tamper", device=f"sensor-{i}")
                threading.Event().wait(OUTAGE_SECONDS / 25)  # spread the 20 alarms over the outage
            wait_for(lambda: consumer.store.seqs("west") == list(range(1, 22)), what="all 21 stored")
            wait_for(lambda: fwd.status()[0]["state"] == "down", what="link down")
            wait_for(lambda: fwd.status()[0]["pending"] == 20, what="the 20 alarms waiting in the outbox")
            assert len(rx.events) == 1
            threading.Event().wait(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
            rx.start()  # back on the same port
            rx.wait(lambda ev: len(ev) >= 21, timeout=20, what="the 20 alarms after the outage")
            wait_for(lambda: fwd.status()[0]["pending"] == 0 and fwd.status()[0]["state"] == "up", what="drained")
            status = fwd.status()[0]
    finally:
        rx.kill()
    after = rx.events[1:]
    assert [e["ri"] for e in after] == [f"{i:03d}" for i in range(1, 21)]  # in order, none twice
    assert len(rx.events) == 21 and status["acked"] == 21


def test_a_hostile_receiver_never_delays_the_mqtt_side(station):
    """A receiver that accepts and never answers, and one that answers garbage: the consumer still
    stores every record at once (the forwarder's on_record only writes the outbox)."""
    make_config, make_gate = station
    gate, secret = make_gate("east")
    with HostileReceiver(lambda f, n: None) as silent, HostileReceiver(lambda f, n: b"\n\xde\xad\r" * 50) as noisy:
        cfg = make_config({"east": secret}, [receiver(silent.port, name="silent", ack_timeout_seconds=30),
                                             receiver(noisy.port, name="noisy", ack_timeout_seconds=30)])
        with StationForwarder(cfg) as fwd, StationConsumer(cfg, on_record=fwd.on_record) as consumer:
            gate.emit("forced_open")
            silent.wait_frames(1)
            noisy.wait_frames(1)  # both links now wait 30 s for an answer
            for _ in range(200):
                gate.emit("forced_open")
                gate.emit("door_closed")
            wait_for(lambda: consumer.store.seqs("east") == list(range(1, 402)), timeout=10,
                     what="every record stored while both receivers stall")
            box = fwd.forwarder.outbox
            wait_for(lambda: box.count("silent") == box.count("noisy") == 201, what="every alarm queued for both")
            assert len(silent.frames) == 1 and fwd.status()[1]["garbage"] >= 1


def test_a_forged_alarm_never_reaches_the_receiver_and_the_gates_real_record_does_once(station):
    """Someone who can write the gate's topic but lacks its key: the station stores the forgery
    unverified and forwards nothing; the gate's own record for that seq goes out, once."""
    make_config, make_gate = station
    gate, secret = make_gate("gucun-47-north")
    with SiaReceiver({"4701": None}) as rx:
        cfg = make_config({"gucun-47-north": secret}, [receiver(rx.port, account="4701")])
        listeners: list = []
        fwd = attach_receivers(cfg, listeners)
        try:
            with StationConsumer(cfg, on_record=fan_out(listeners)) as consumer:
                real = gate.emit("tamper", device="enclosure", publish=False)  # journaled at the gate, not yet sent
                forged = {k: v for k, v in real.items() if k != "mac"} | {"type": "forced_open", "id": "forged"}
                gate.publish_record(forged)
                wait_for(lambda: consumer.stats.get("unverified", 0) >= 1, what="forgery stored unverified")
                gate.publish_record(real)
                rx.wait(lambda ev: len(ev) >= 1, what="the gate's real record at the receiver")
                wait_for(lambda: consumer.idle() and fwd.status()[0]["pending"] == 0, what="outbox drained")
        finally:
            fwd.close()
    assert [(e["account"], e["code"]) for e in rx.events] == [("4701", "TA")]
