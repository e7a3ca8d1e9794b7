"""One gate's broker credentials cannot knock another gate off (audit F8, r12): password auth, the
per-gate ACL of docs/uplink.md and `use_username_as_clientid true`, against a real mosquitto."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker import MosquittoBroker
from gate.config.schema import parse_config
from gate.runtime.uplink_setup import session_settings
from gate.store.journal import Journal
from gate.uplink.link import Uplink
from gatefixture import wait_for

ACL = """\
pattern write compound/%u/status
pattern write compound/%u/event
pattern write compound/%u/alarm
pattern write compound/%u/cmd/result
pattern read  compound/%u/cmd

user station
topic read  compound/+/status
topic read  compound/+/event
topic read  compound/+/alarm
topic read  compound/+/cmd/result
topic write compound/+/cmd
"""


def _secured_broker(folder: Path) -> MosquittoBroker:
    passwords = folder / "passwords"
    for i, (user, password) in enumerate([("gA", "passA"), ("gB", "passB"), ("station", "passS")]):
        args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [str(passwords), user, password]
        subprocess.run(args, check=True, capture_output=True)
    (folder / "acl").write_text(ACL)
    return MosquittoBroker(extra_conf="\n".join([
        "allow_anonymous false", f"password_file {passwords}", f"acl_file {folder / 'acl'}",
        "use_username_as_clientid true", "user root",  # root in CI: read the test's files
    ])).start()


def _client(port: int, user: str, password: str, client_id: str) -> tuple[mqtt.Client, threading.Event]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(user, password)
    up = threading.Event()
    c.on_connect = lambda _c, _u, _f, rc, _p=None: up.set() if not rc.is_failure else None
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, up


def test_gate_b_credentials_cannot_take_over_gate_a(tmp_path):
    broker = _secured_broker(tmp_path)
    (tmp_path / "a.password").write_text("passA\n")
    cfg = parse_config({"gate": {"id": "gA"}, "storage": {"dir": str(tmp_path)},
                        "mqtt": {"host": "127.0.0.1", "port": broker.port, "username": "gA",
                                 "password_file": "a.password", "command_secret_file": ""}},
                       tmp_path, check_paths=False)
    settings = session_settings(cfg)
    assert settings.client_id == "gA"  # bound to the username
    statuses: list[bytes] = []
    station, station_up = _client(broker.port, "station", "passS", "station")
    station.on_message = lambda _c, _u, msg: statuses.append(msg.payload)
    try:
        assert station_up.wait(10)
        station.subscribe("compound/gA/status", qos=1)
        with Journal(tmp_path / "journal.db", "gA") as journal:
            uplink = Uplink(journal, settings, gate_id="gA", topic_prefix="compound").start()
            try:
                assert uplink.session.wait_connected(10)
                wait_for(lambda: any(b'"online":true' in s for s in statuses), 10, "gate A online")
                # The holder of gate B's password tries gate A's client id (and the old default) again and again.
                for client_id in ["gA", "gate-gA"] * 5:
                    attacker, attacker_up = _client(broker.port, "gB", "passB", client_id)
                    assert attacker_up.wait(10)  # B's login works: its client id is simply "gB"
                    attacker.disconnect()
                    attacker.loop_stop()
                rec = journal.append("forced_open", {"door": "main"})
                uplink.on_record(rec)
                assert uplink.wait_idle(10)  # the alarm was acknowledged on gate A's one session
                assert uplink.session.connects == 1 and uplink.session.disconnects == 0
                assert not any(b'"online":false' in s for s in statuses)
            finally:
                uplink.close()
    finally:
        station.disconnect()
        station.loop_stop()
        broker.close()
