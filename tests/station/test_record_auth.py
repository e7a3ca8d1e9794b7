"""F7/F12/F18: what a gate publishes is authenticated (`mac`), the station believes only what
verifies, results are matched by (gate, cmd_id), and there is no shared default key."""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gate.core.errors import ConfigError
from gate.station.commands import CommandChannel, PendingResults
from gate.station.config import load_station_config, parse_station_config
from gate.station.store import CONFLICT, DUPLICATE, NEW, Gap, StationStore
from gate.uplink import signing
from fakegate import FakeGate

KEY = b"0123456789abcdef0123456789abcdef"


def rec(seq: int, gate: str = "g", type_: str = "forced_open", **extra) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}-{type_}", "ts": "2026-12-01T10:00:00.000Z",
            "type": type_, "historical": False, **extra}


# --- the MAC ------------------------------------------------------------------------------------
def test_record_mac_covers_everything_but_historical():
    sealed = signing.sign_record(rec(7, card="04A1B2C3", temperature_c=38.1, nested={"a": [1, "два"]}), KEY)
    assert len(sealed["mac"]) == 64 and signing.verify_record(sealed, KEY)
    assert signing.verify_record({**sealed, "historical": True}, KEY)  # replays and backlog verify too
    assert signing.verify_record(json.loads(json.dumps(sealed)), KEY)  # survives the wire
    for tampered in ({**sealed, "seq": 8}, {**sealed, "type": "door_closed"}, {**sealed, "card": "04A1B2C4"},
                     {**sealed, "extra": 1}, {k: v for k, v in sealed.items() if k != "card"},
                     {**sealed, "mac": sealed["mac"].upper()}, {**sealed, "mac": sealed["mac"][:-1]},
                     {**sealed, "mac": None}, {k: v for k, v in sealed.items() if k != "mac"},
                     {**sealed, "mac": "é" * 64}):
        assert not signing.verify_record(tampered, KEY)
    assert not signing.verify_record(sealed, b"another gate's key")


def test_mac_domains_are_separate_from_each_other_and_from_command_signatures():
    obj = {"online": True, "gate": "g", "cmd_id": "c", "ok": True, "seq": 1}
    macs = {p: signing.seal(obj, KEY, p)["mac"] for p in (signing.RECORD, signing.STATUS, signing.RESULT)}
    assert len(set(macs.values())) == 3
    assert not signing.check_seal({**obj, "mac": macs[signing.RECORD]}, KEY, signing.STATUS)
    assert not signing.check_seal({**obj, "mac": macs[signing.STATUS]}, KEY, signing.RESULT)
    # A command signature over the same fields is under the raw secret: it never passes as a MAC,
    # and a record MAC never passes as a command signature.
    sig = signing.sign(obj, KEY)["sig"]
    assert not signing.check_seal({**obj, "mac": sig}, KEY, signing.RECORD)
    assert not signing.verify({**obj, "sig": macs[signing.RECORD]}, KEY)
    assert signing.message_key(KEY, signing.RECORD) != KEY


def test_a_lone_surrogate_never_verifies_and_never_raises():
    assert not signing.verify_record({**rec(1, note="\ud800"), "mac": "0" * 64}, KEY)


# --- the store: unverified records never take a seq ------------------------------------------------
@pytest.fixture
def store(tmp_path):
    with StationStore(tmp_path / "s.db") as s:
        yield s


def test_a_verified_record_takes_its_seq_back_from_an_unverified_one(store):
    forged = rec(1, type_="door_closed")
    assert store.add_record("g", "alarm", forged, verified=False) == NEW
    assert store.gate_state("g").max_seq == 0 and store.gaps("g") == []  # counts for nothing
    real = rec(1)
    assert store.add_record("g", "alarm", real, verified=True) == NEW
    (only,) = store.recent(limit=5)
    assert only.record == real and only.verified and only.type == "forced_open"
    assert json.loads(store.db.execute("SELECT payload FROM conflicts").fetchone()[0]) == forged
    assert store.gate_state("g").contiguous == 1
    # Later copies of either: the verified record stays.
    assert store.add_record("g", "alarm", forged, verified=False) == CONFLICT
    assert store.add_record("g", "alarm", real, verified=False) == DUPLICATE
    assert store.recent(limit=5)[0].verified


def test_unverified_records_neither_fill_nor_open_gaps(store):
    store.add_records([("g", "event", rec(1), True), ("g", "event", rec(3), True)])
    assert store.gaps("g") == [Gap("g", 2, 2)]
    store.add_records([("g", "event", rec(2, type_="x"), False), ("g", "event", rec(10**15, type_="x"), False)])
    assert store.gaps("g") == [Gap("g", 2, 2)]  # seq 2 is still asked of the gate; no gap to 10**15
    assert store.gate_state("g").max_seq == 3


def test_an_unverified_status_updates_online_but_never_last_seq(store):
    store.set_status("g", {"online": True, "gate": "g", "last_seq": 5}, verified=True)
    state = store.set_status("g", {"online": False, "gate": "g", "last_seq": 10**15}, verified=False)
    assert state.online is False and state.status_verified is False and state.reported_last_seq == 5
    assert store.gaps("g") == [Gap("g", 1, 5)]


def test_unverified_traffic_does_not_fix_a_new_gates_floor(tmp_path):
    with StationStore(tmp_path / "b.db", backfill_new_gates=False) as s:
        s.add_record("g", "event", rec(10**12, type_="x"), verified=False)
        s.add_record("g", "event", rec(100), verified=True)
        s.add_record("g", "event", rec(102), verified=True)
        assert s.gaps("g") == [Gap("g", 101, 101)]


def test_an_old_store_file_gains_the_columns_and_keeps_its_records(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE records (gate TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
            type TEXT NOT NULL, ts TEXT NOT NULL, historical INTEGER NOT NULL, received_at TEXT NOT NULL,
            payload TEXT NOT NULL, PRIMARY KEY (gate, seq));
        CREATE TABLE gates (gate TEXT PRIMARY KEY, online INTEGER, status_at TEXT, status TEXT,
            reported_last_seq INTEGER NOT NULL DEFAULT 0, floor INTEGER NOT NULL DEFAULT 0,
            contiguous INTEGER NOT NULL DEFAULT 0, max_seq INTEGER NOT NULL DEFAULT 0);""")
    db.execute("INSERT INTO records VALUES ('g',1,'a','alarm','tamper','t',0,'t',?)", (json.dumps(rec(1)),))
    db.execute("INSERT INTO gates (gate, contiguous, max_seq) VALUES ('g', 1, 1)")
    db.commit()
    db.close()
    with StationStore(path) as a, StationStore(path) as b:  # a second opener finds the columns there
        assert a.recent(limit=5)[0].verified and b.gate_state("g").status_verified is None
        assert a.add_record("g", "event", rec(2), verified=True) == NEW and b.gaps("g") == []


# --- results: by (gate, cmd_id), verified ------------------------------------------------------------
def test_a_result_counts_only_from_the_gate_the_command_went_to():
    pending = PendingResults()
    pending.expect("c1", "north")
    pending.deliver({"cmd_id": "c1", "ok": True}, "south")  # same id, another gate's topic
    assert pending.wait("c1", 0.05).timed_out
    pending.expect("c2", "north")
    pending.deliver({"cmd_id": "c2", "ok": True}, "north")
    assert pending.wait("c2", 1).ok


def test_an_unverified_ok_is_never_believed_and_an_unverified_rejection_is_only_a_fallback():
    pending = PendingResults()
    pending.expect("c1", "north")
    assert pending.deliver({"cmd_id": "c1", "ok": True}, "north", verified=False) is None
    assert pending.wait("c1", 0.05).timed_out
    pending.expect("c2", "north")
    pending.deliver({"cmd_id": "c2", "ok": False, "error": "bad_signature: x"}, "north", verified=False)
    pending.deliver({"cmd_id": "c2", "ok": True}, "north", verified=True)
    assert pending.wait("c2", 1).ok  # the verified answer wins over the earlier unverified one
    pending.expect("c3", "north")
    pending.deliver({"cmd_id": "c3", "ok": False, "error": "bad_signature: x"}, "north", verified=False)
    result = pending.wait("c3", 0.05)
    assert not result.ok and not result.verified and not result.timed_out
    assert "no verified result" in result.describe() and "rejected: bad_signature" in result.describe()


def test_a_forged_ok_on_the_result_topic_does_not_make_send_say_ok(broker, tmp_path):
    """Against mosquitto: the gate is gone (no answer comes); a forger answers every command `ok`
    without the gate's MAC. `send` must time out, not report success."""
    secret = tmp_path / "north.secret"
    secret.write_text(uuid.uuid4().hex)
    conf = tmp_path / "station.toml"
    conf.write_text(f'[mqtt]\nport = {broker.port}\n[gates.north]\nsecret_file = "north.secret"\n')
    forger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"forger-{uuid.uuid4().hex[:6]}")
    answered = threading.Event()

    def on_message(client, userdata, msg):
        cmd = json.loads(msg.payload)
        client.publish("compound/north/cmd/result", json.dumps({"cmd_id": cmd["cmd_id"], "ok": True, "error": "",
                                                                "mac": "0" * 64}), qos=1)
        answered.set()

    forger.on_message = on_message
    forger.on_connect = lambda c, u, f, rc, p=None: c.subscribe("compound/north/cmd", qos=1)
    forger.connect("127.0.0.1", broker.port)
    forger.loop_start()
    try:
        with CommandChannel(load_station_config(conf)) as channel:
            result = channel.send("north", "unlock", {}, timeout=1.5)
        assert answered.is_set() and result.timed_out and not result.ok
    finally:
        forger.loop_stop()
        forger.disconnect()


def test_the_fake_gate_results_verify_end_to_end(broker, tmp_path):
    secret = tmp_path / "north.secret"
    secret.write_text(uuid.uuid4().hex)
    conf = tmp_path / "station.toml"
    conf.write_text(f'[mqtt]\nport = {broker.port}\n[gates.north]\nsecret_file = "north.secret"\n')
    gate = FakeGate(broker.port, "north", signing.load_secret(secret))
    try:
        with CommandChannel(load_station_config(conf)) as channel:
            result = channel.send("north", "lockdown", {"on": True}, timeout=5)
        assert result.ok and result.verified
    finally:
        gate.close()


# --- F12: no shared default key ---------------------------------------------------------------------
def test_the_shared_default_secret_is_refused_naming_the_key_and_what_to_do():
    with pytest.raises(ConfigError) as err:
        parse_station_config({"commands": {"default_secret_file": "/etc/gate-station/all.secret"}})
    (problem,) = err.value.problems
    assert problem.startswith("commands.default_secret_file: no longer supported")
    assert 'secret_file' in problem and "[gates." in problem and "remove this key" in problem


def test_a_gate_without_its_own_secret_has_none(tmp_path):
    cfg = parse_station_config({"gates": {"north": {"secret_file": "n.secret"}}}, tmp_path)
    with pytest.raises(ConfigError, match="gates.south.secret_file: no command secret for gate 'south'"):
        cfg.secret_for("south")


def test_a_rotated_secret_file_takes_effect_at_once(tmp_path):
    path = tmp_path / "n.secret"
    path.write_text("old-key")
    cfg = parse_station_config({"gates": {"north": {"secret_file": str(path)}}}, tmp_path)
    assert cfg.secret_for("north") == b"old-key"
    path.write_text("the-new-key\n")
    assert cfg.secret_for("north") == b"the-new-key"
