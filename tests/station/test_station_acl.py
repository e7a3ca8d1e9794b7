"""The broker setup docs/station.md documents ("Mosquitto: a listener for gates, one for the
station"), run on real mosquitto with password files: one gate's credentials cannot take over another
gate's client id nor write its topics, cannot log in where the station does, and several station
consoles on one station account stay connected side by side."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker import MosquittoBroker, free_port
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.uplink import signing

GATES_ACL = """\
pattern write compound/%u/status
pattern write compound/%u/event
pattern write compound/%u/alarm
pattern write compound/%u/cmd/result
pattern read  compound/%u/cmd
"""
STATION_ACL = """\
user station
topic read  compound/+/status
topic read  compound/+/event
topic read  compound/+/alarm
topic read  compound/+/cmd/result
topic read  $share/officers/compound/+/event
topic read  $share/officers/compound/+/alarm
topic write compound/+/cmd
"""


class AclBroker(MosquittoBroker):
    """mosquitto with the documented two listeners (plain TCP on loopback here; TLS in production)."""

    def __init__(self):
        super().__init__()
        self.station_port = free_port()
        self.tmp = self.dir  # mosquitto reads these after dropping root to its own user
        self.dir.chmod(0o755)

    def _write_conf(self) -> Path:
        for name, users in (("gates", ("gA", "gB")), ("station", ("station",))):
            passwd = self.tmp / f"{name}.passwd"
            passwd.write_text("")
            for user in users:
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, f"pw-{user}"], check=True,
                               capture_output=True)
        (self.tmp / "gates.acl").write_text(GATES_ACL)
        (self.tmp / "station.acl").write_text(STATION_ACL)
        for f in self.tmp.iterdir():
            f.chmod(0o644)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"""per_listener_settings true
persistence false
max_queued_messages 100000

listener {self.port} 127.0.0.1
allow_anonymous false
password_file {self.tmp / 'gates.passwd'}
acl_file {self.tmp / 'gates.acl'}
use_username_as_clientid true

listener {self.station_port} 127.0.0.1
allow_anonymous false
password_file {self.tmp / 'station.passwd'}
acl_file {self.tmp / 'station.acl'}
""")
        return conf


@pytest.fixture
def acl_broker():
    b = AclBroker().start()
    yield b
    b.stop()


class Client:
    """A paho client that records its connects, disconnects and messages."""

    def __init__(self, port: int, user: str, *, client_id: str, password: str | None = None):
        self.connects: list = []
        self.drops = threading.Event()
        self.up = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.got = threading.Condition()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, password or f"pw-{user}")
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a, **k: self.drops.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, client, userdata, flags, rc, props=None):
        self.connects.append(rc)
        if not rc.is_failure:
            self.up.set()

    def _on_message(self, client, userdata, msg):
        with self.got:
            self.messages.append((msg.topic, msg.payload))
            self.got.notify_all()

    def wait_message(self, pred, timeout: float = 5.0) -> bool:
        with self.got:
            return self.got.wait_for(lambda: any(pred(t, p) for t, p in self.messages), timeout)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_one_gates_credentials_cannot_take_over_another_gates_client_id(acl_broker):
    gate_a = Client(acl_broker.port, "gA", client_id="gA")
    try:
        assert gate_a.up.wait(5)
        gate_a.c.subscribe("compound/gA/cmd", qos=1)
        thief = Client(acl_broker.port, "gB", client_id="gA")  # B's password, A's client id
        try:
            assert thief.up.wait(5)  # accepted, but as client id "gB" (use_username_as_clientid)
            station = Client(acl_broker.station_port, "station", client_id="station-1")
            try:
                assert station.up.wait(5)
                marker = uuid.uuid4().hex.encode()
                # A still has its session: a command published now reaches it, and it was never dropped.
                assert gate_a.c.subscribe("compound/gA/cmd", qos=1)[0] == mqtt.MQTT_ERR_SUCCESS
                station.c.publish("compound/gA/cmd", marker, qos=1).wait_for_publish(5)
                assert gate_a.wait_message(lambda t, p: p == marker)
                assert not gate_a.drops.is_set()
            finally:
                station.close()
        finally:
            thief.close()
    finally:
        gate_a.close()


def test_gate_credentials_cannot_write_another_gates_topics_nor_log_in_as_the_station(acl_broker):
    station = Client(acl_broker.station_port, "station", client_id="station-1")
    gate_b = Client(acl_broker.port, "gB", client_id="whatever")
    try:
        assert station.up.wait(5) and gate_b.up.wait(5)
        station.c.subscribe("compound/+/alarm", qos=1)
        # Subscriptions are processed in order: a SUBACK-less wait is replaced by a first message.
        probe = uuid.uuid4().hex.encode()
        gate_b.c.publish("compound/gB/alarm", probe, qos=1).wait_for_publish(5)
        assert station.wait_message(lambda t, p: p == probe)
        forged = json.dumps({"gate": "gA", "seq": 1, "type": "door_closed"}).encode()
        gate_b.c.publish("compound/gA/alarm", forged, qos=1).wait_for_publish(5)
        after = uuid.uuid4().hex.encode()
        gate_b.c.publish("compound/gB/alarm", after, qos=1).wait_for_publish(5)
        assert station.wait_message(lambda t, p: p == after)  # B's later message arrived...
        assert not any(t == "compound/gA/alarm" for t, _ in station.messages)  # ...the forgery did not
        intruder = Client(acl_broker.station_port, "gB", client_id="station-2")  # a gate's password
        try:
            assert intruder.drops.wait(5) and not intruder.up.is_set()
            assert intruder.connects and intruder.connects[0].is_failure
        finally:
            intruder.close()
    finally:
        gate_b.close()
        station.close()


def test_two_consoles_on_one_station_account_stay_connected(acl_broker, tmp_path):
    password = tmp_path / "station.password"
    password.write_text("pw-station\n")
    secret = tmp_path / "gA.secret"
    secret.write_text(uuid.uuid4().hex)
    cfg = StationConfig(client_id="gate-station", store=str(tmp_path / "station.db"), port=acl_broker.station_port,
                        username="station", password_file=str(password), shared_group="officers",
                        grace_seconds=0.2, gate_secrets={"gA": str(secret)})
    gate_a = Client(acl_broker.port, "gA", client_id="gA")
    try:
        assert gate_a.up.wait(5)
        # Two processes would be gate-station-HOST-PID each; in one test process, two explicit ids.
        with StationConsumer(cfg, client_id="station-a") as one, StationConsumer(cfg, client_id="station-b") as two:
            key = signing.load_secret(secret)
            for seq in range(1, 21):
                rec = signing.sign_record({"gate": "gA", "seq": seq, "id": uuid.uuid4().hex,
                                           "ts": "2026-12-01T10:00:00.000Z", "type": "forced_open",
                                           "historical": False}, key)
                gate_a.c.publish("compound/gA/alarm", json.dumps(rec), qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 10
            while not (one.store.seqs("gA") == list(range(1, 21)) and one.idle() and two.idle()):
                assert time.monotonic() < deadline, one.store.seqs("gA")
                assert one.is_connected and two.is_connected  # neither took the other's session
                threading.Event().wait(0.02)
            assert one.stats["stored"] + two.stats["stored"] == 20 and one.stats["unverified"] == 0
            assert one.is_connected and two.is_connected
    finally:
        gate_a.close()
