"""The station console against the REAL gate: `gatectl run` on a simulated gate (tests/gatefixture.py),
real mosquitto, the console in-process (StationConsumer) or as `gatectl station` subprocesses."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gatefixture import GateProcess, wait_for

from gate.core.errors import InputError
from gate.uplink.remote_actions import validate_ack
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.console_store import ConsoleStore
from gate.station.store import StationStore

GATE = "test-gate"


def gatectl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True, timeout=timeout)


def station_config(gate: GateProcess, port: int, tmp_path: Path, **overrides) -> StationConfig:
    """A console config for `gate`: its secret, a fresh store, short replay timers, clean sessions."""
    values = dict(client_id=f"station-{uuid.uuid4().hex[:6]}", store=str(tmp_path / "station.db"), port=port,
                  topic_prefix=gate.prefix, grace_seconds=0.2, retry_initial_seconds=0.5, retry_max_seconds=2.0,
                  session_expiry_seconds=0, result_timeout_seconds=5.0,
                  gate_secrets={gate.gate_id: str(gate.storage / "command.secret")})
    values.update(overrides)
    return StationConfig(**values)


def station_toml(gate: GateProcess, port: int, tmp_path: Path) -> Path:
    """The same, as a file for `gatectl station -c`."""
    path = tmp_path / "station.toml"
    path.write_text(f"""
[station]
client_id = "station-cli-{uuid.uuid4().hex[:6]}"
store = "{tmp_path / 'station.db'}"
[mqtt]
port = {port}
topic_prefix = "{gate.prefix}"
session_expiry_seconds = 0
[commands]
result_timeout_seconds = 5
[gates."{gate.gate_id}"]
secret_file = "{gate.storage / 'command.secret'}"
""")
    return path


def stored(store: StationStore, record_type: str) -> list:
    return [r for r in store.recent(limit=10_000) if r.type == record_type]


def complete(store: StationStore, gate: GateProcess) -> bool:
    """The console holds every record the gate journaled, with no gap left."""
    last = gate.last_seq()
    return store.seqs(gate.gate_id) == list(range(1, last + 1)) and not store.gaps(gate.gate_id)


@pytest.fixture
def gate(tmp_path, broker):
    g = GateProcess(tmp_path / "gate", port=broker.port, gate_id=GATE)
    with g.start():
        for card, name in (("DEADBEEF", "Wang Li"), ("CAFEF00D", "Zhao Min")):
            assert gatectl("passes", "-c", str(g.config), "add", card, "--name", name,
                           "--household", "3-201").returncode == 0
        yield g


def test_grant_fever_refusal_and_forced_opening_reach_the_console(gate, broker, tmp_path):
    with StationConsumer(station_config(gate, broker.port, tmp_path)) as console:
        gate.sim("temp", value="36.6")  # screening needs somebody in front of the thermometer
        gate.sim("tap", uid="DEADBEEF")
        wait_for(lambda: gate.sim("state")["lock"] == "unlocked", 5, "grant: lock released")
        gate.sim("door", position="open")
        gate.sim("door", position="close")
        wait_for(lambda: gate.sim("state")["lock"] == "locked", 5, "relocked")

        gate.sim("temp", value="38.1")
        gate.sim("tap", uid="CAFEF00D")  # another card: DEADBEEF may still be in the field (one presence)
        wait_for(lambda: gate.records_of("fever"), 10, "fever journaled")
        gate.sim("temp", value="none")

        gate.sim("door", position="open")  # nobody was granted
        wait_for(lambda: gate.records_of("forced_open"), 5, "forced_open journaled")

        store = console.store
        wait_for(lambda: stored(store, "forced_open") and complete(store, gate), 10, "every record at the console")
        granted = stored(store, "access_granted")[0]
        assert granted.kind == "event" and granted.record["card"] == "DEADBEEF" and not granted.historical
        refused = stored(store, "access_refused")[0]
        assert refused.kind == "event" and refused.record["reason"] == "fever" and refused.record["card"] == "CAFEF00D"
        fever = stored(store, "fever")[0]
        assert fever.kind == "alarm" and 38.0 <= fever.record["temperature_c"] <= 38.2
        forced = stored(store, "forced_open")[0]
        assert forced.kind == "alarm" and forced.record["gate"] == GATE and not forced.historical
        # The console's catch-up probe (a replay beyond the gate's last seq) was answered, not rejected.
        assert not gate.records_of("command_rejected")
        assert console.stats["invalid"] == 0 and console.stats["conflicts"] == 0
        # Every record and status carried the real gate's MAC (gate/uplink/link.py) and passed.
        assert all(r.verified for r in store.recent(limit=10_000)) and console.stats["unverified"] == 0
        assert store.gate_state(GATE).status_verified is True


def test_console_started_late_backfills_by_replay_and_marks_records_historical(gate, broker, tmp_path):
    for _ in range(5):
        gate.sim("exit")
    wait_for(lambda: len(gate.records_of("exit_request")) == 5, 5, "exits journaled")
    missed = gate.last_seq()  # published while no console listened: gone from the broker

    with StationConsumer(station_config(gate, broker.port, tmp_path)) as console:
        wait_for(lambda: complete(console.store, gate), 15, "the console backfilled the gate's journal")
        early = [r for r in console.store.recent(limit=10_000) if r.seq <= missed]
        assert len(early) == missed and all(r.historical and r.record["historical"] for r in early)
        assert all(r.verified for r in early)  # `historical` is outside the MAC: replays verify too
        assert console.stats["replays"] >= 1
        asked, _last = console.store.replay_history(GATE)
        assert asked >= 1
    accepted = [r for r in gate.records_of("command") if r["action"] == "replay"]
    assert accepted and not gate.records_of("command_rejected")


@pytest.mark.parametrize("max_batch", [500, 2])  # 2: the probe comes back full and must ask again
def test_console_restarted_on_its_store_catches_up_on_a_quiet_gate(gate, broker, tmp_path, max_batch):
    cfg = station_config(gate, broker.port, tmp_path, max_batch=max_batch)
    with StationConsumer(cfg) as console:
        gate.sim("exit")
        wait_for(lambda: stored(console.store, "exit_request") and complete(console.store, gate), 15, "first exit")
        seen = gate.last_seq()
    # While the console is down the gate journals more and stays quiet afterwards: no later record or
    # status reveals the gap, only the console's catch-up probe after it reconnects.
    for _ in range(3):
        gate.sim("exit")
    wait_for(lambda: len(gate.records_of("exit_request")) == 4, 5, "exits journaled while the console was down")
    # ...and published (PUBACKed) while it was down: a live copy arriving after the restart would
    # not be historical.
    wait_for(lambda: gate.journal_rows("SELECT COUNT(*) FROM records WHERE delivered = 0") == [(0,)], 10,
             "the exits published to the broker")
    with StationConsumer(cfg) as console:
        wait_for(lambda: len(stored(console.store, "exit_request")) == 4 and complete(console.store, gate), 15,
                 "the console caught up after its restart")
        later = [r for r in stored(console.store, "exit_request") if r.seq > seen]
        assert len(later) == 3 and all(r.historical for r in later)


def test_a_republished_status_does_not_make_the_console_probe_again(gate, broker, tmp_path):
    with StationConsumer(station_config(gate, broker.port, tmp_path)) as console:
        wait_for(lambda: complete(console.store, gate), 10, "the console backfilled the gate's journal")
        replays, status_at = console.stats["replays"], console.store.gate_state(GATE).status_at
        assert console.sender.send(GATE, "lockdown", {"on": True}).ok  # a status trigger on the gate
        wait_for(lambda: console.store.gate_state(GATE).status_at != status_at and stored(console.store, "lockdown")
                 and console.idle(), 10, "the lockdown record and the new status processed")
        assert console.stats["replays"] == replays  # every command is journaled: a probe would add records
        assert complete(console.store, gate)


def test_killed_gate_shows_offline_from_its_last_will(gate, broker, tmp_path):
    states = []
    with StationConsumer(station_config(gate, broker.port, tmp_path), on_status=states.append) as console:
        wait_for(lambda: (s := console.store.gate_state(GATE)) and s.online, 10, "gate online at the console")
        wait_for(lambda: complete(console.store, gate), 10, "the console backfilled the gate's journal")
        gate.kill()  # SIGKILL: no clean offline status, only the broker's last will
        wait_for(lambda: console.store.gate_state(GATE).online is False, 15, "gate offline at the console")
        wait_for(lambda: states[-1].online is False, 5, "the status listener told")  # called after the store
        assert states[-1].gate == GATE and any(s.online for s in states)
        assert console.store.gate_state(GATE).status_at is not None


def test_gatectl_station_send_unlock_and_quarantine_are_accepted_by_the_gate(gate, broker, tmp_path):
    cfg = str(station_toml(gate, broker.port, tmp_path))
    assert gate.sim("state")["lock"] == "locked"
    out = gatectl("station", "-c", cfg, "send", GATE, "unlock", "--seconds", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{GATE} unlock ") and out.stdout.rstrip().endswith(": ok")
    wait_for(lambda: gate.sim("state")["lock"] == "unlocked", 2, "the lock released by the station")
    assert [r["action"] for r in gate.records_of("command")] == ["unlock"]

    out = gatectl("station", "-c", cfg, "send", GATE, "quarantine", "--card", "de:ad:be:ef", "--days", "14")
    assert out.returncode == 0 and out.stdout.rstrip().endswith(": ok"), out.stdout + out.stderr
    out = gatectl("station", "-c", cfg, "send", GATE, "quarantine", "--card", "DEADBEEF", "--lift")
    assert out.returncode == 0 and out.stdout.rstrip().endswith(": ok"), out.stdout + out.stderr
    out = gatectl("station", "-c", cfg, "send", GATE, "quarantine", "--card", "0BADCAFE", "--lift")
    assert out.returncode == 1 and "no pass for card 0BADCAFE" in out.stdout
    quarantines = [r["args"] for r in gate.records_of("command") if r["action"] == "quarantine"]
    assert quarantines == [{"card": "DEADBEEF", "days": 14}, {"card": "DEADBEEF", "lift": True}]


def test_gatectl_station_ack_acknowledges_a_forced_opening_on_the_gate(gate, broker, tmp_path):
    cfg = str(station_toml(gate, broker.port, tmp_path))
    gate.sim("door", position="open")
    alarm_seq = wait_for(lambda: gate.journal_rows("SELECT seq FROM records WHERE type = 'forced_open'"), 5,
                         "forced_open journaled")[0][0]

    out = gatectl("station", "-c", cfg, "ack", GATE, str(alarm_seq), "--by", "officer wang",
                  "--note", "patrol dispatched")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"alarm {alarm_seq} acknowledged by officer wang: the gate confirmed" in out.stdout
    ack = wait_for(lambda: gate.records_of("alarm_acknowledged"), 5, "alarm_acknowledged journaled")[0]
    assert ack["alarm"] == "forced_open" and ack["alarm_seq"] == alarm_seq
    assert ack["by"] == "station" and ack["officer"] == "officer wang"
    with StationStore(tmp_path / "station.db") as store:
        assert store.acked_by(GATE, alarm_seq) == "officer wang"
    with ConsoleStore(tmp_path / "station.db") as console:  # the note is where the web console shows it
        notes = console.query("SELECT officer, note FROM console_acks WHERE gate=? AND seq=?", (GATE, alarm_seq))
        assert [tuple(n) for n in notes] == [("officer wang", "patrol dispatched")]

    # A malformed ack is refused naming the field, and acknowledges nothing.
    out = gatectl("station", "-c", cfg, "send", GATE, "raw", "ack", "--arg", "seq=0")
    assert out.returncode == 1 and "invalid_arguments: seq:" in out.stdout


def test_station_ack_of_no_alarm_is_not_confirmed_and_exits_1(gate, broker, tmp_path):
    # B4: "ack GATE 9999" and an ack of a seq that is no alarm used to print "acknowledged … ok", rc 0.
    cfg = str(station_toml(gate, broker.port, tmp_path))
    gate.sim("exit")
    exit_seq = wait_for(lambda: gate.journal_rows("SELECT seq FROM records WHERE type = 'exit_request'"), 5,
                        "exit_request journaled")[0][0]
    out = gatectl("station", "-c", cfg, "ack", GATE, "9999", "--by", "officer wang")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "alarm 9999: NOT acknowledged: no_such_alarm: no active alarm 9999" in out.stdout
    out = gatectl("station", "-c", cfg, "send", GATE, "ack", str(exit_seq))
    assert out.returncode == 1
    assert f"seq {exit_seq} is exit_request, not an alarm" in out.stdout
    assert not gate.records_of("alarm_acknowledged")
    with StationStore(tmp_path / "station.db") as store:
        assert store.acked_by(GATE, 9999) is None and store.acked_by(GATE, exit_seq) is None
    # all=true with nothing active is not an acknowledgement either
    out = gatectl("station", "-c", cfg, "send", GATE, "raw", "ack", "--arg", "all=true")
    assert out.returncode == 1 and "no active alarm at all" in out.stdout


def test_station_revoke_of_an_unknown_card_says_so_and_exits_1(gate, broker, tmp_path):
    # B5: an unknown card used to print only "ok".
    cfg = str(station_toml(gate, broker.port, tmp_path))
    out = gatectl("station", "-c", cfg, "send", GATE, "passes", "--revoke", "CAFEF00D", "99887766")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "revoked 1; NOT revoked, the gate has no pass for: 99887766" in out.stdout
    out = gatectl("station", "-c", cfg, "send", GATE, "passes", "--revoke", "DEADBEEF")
    assert out.returncode == 0 and "revoked 1: ok" in out.stdout


def test_station_unknown_gate_is_named_with_the_known_ones(tmp_path):
    cfg = tmp_path / "station.toml"
    cfg.write_text('[station]\nstore = "st.db"\n[gates."gucun-47-north"]\nsecret_file = "n.secret"\n'
                   '[gates."gucun-47-east"]\nsecret_file = "e.secret"\n')
    out = gatectl("station", "-c", str(cfg), "send", "Gucun-47-North", "lockdown", "on")
    assert out.returncode == 2
    assert ("station: unknown gate 'Gucun-47-North' (did you mean 'gucun-47-north'?); "
            "known gates: gucun-47-east, gucun-47-north") in out.stderr
    out = gatectl("station", "-c", str(cfg), "ack", "gucun-47-south", "3")
    assert out.returncode == 2 and "unknown gate 'gucun-47-south'" in out.stderr
    # a known gate whose secret file is missing: the config's fault, exit 2, the path named
    out = gatectl("station", "-c", str(cfg), "send", "gucun-47-north", "lockdown", "on")
    assert out.returncode == 2 and "n.secret" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, field", [
    ({}, "seq/type/alarm_id/all"), ({"seq": 0}, "seq"), ({"seq": True}, "seq"), ({"seq": "4"}, "seq"),
    ({"type": "access_granted"}, "type"), ({"alarm_id": ""}, "alarm_id"), ({"all": "yes"}, "all"),
    ({"all": True, "seq": 4}, "all"), ({"seq": 4, "by": ""}, "by"), ({"seq": 4, "by": 7}, "by"),
])
def test_ack_arguments_are_validated_naming_the_field(args, field):
    with pytest.raises(InputError, match=f"^{field}:"):
        validate_ack(args)


def test_ack_arguments_pass_through():
    assert validate_ack({"seq": 4, "by": " officer wang ", "cmd_id": "x"}) == {"seq": 4, "by": "officer wang"}
    assert validate_ack({"type": "forced_open", "alarm_id": "a1"}) == {"type": "forced_open", "alarm_id": "a1"}
    assert validate_ack({"all": True}) == {"all": True}


def test_forged_alarms_are_flagged_and_never_take_the_real_records_seq(gate, broker, tmp_path):
    """F7: whoever can write P/G/alarm (no ACL, or a MITM) publishes a `forced_open` for the seq the
    gate will use next, without a MAC and with a wrong one, and a far-future seq. The station stores
    them flagged unverified; the gate's real record of that seq replaces the forgery; the forged far
    seq opens no gap; a forged status cannot raise last_seq."""
    import json

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from gate.uplink import signing

    received = []
    with StationConsumer(station_config(gate, broker.port, tmp_path), on_record=received.append) as console:
        store = console.store
        wait_for(lambda: complete(store, gate) and store.gate_state(GATE), 10, "the console caught up")
        nxt = gate.last_seq() + 1
        forger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"forger-{uuid.uuid4().hex[:6]}")
        forger.connect("127.0.0.1", broker.port)
        forger.loop_start()
        try:
            def forge(seq: int, **extra) -> None:
                body = {"gate": GATE, "seq": seq, "id": uuid.uuid4().hex, "ts": "2026-12-01T10:00:00.000Z",
                        "type": "door_closed", "historical": False, **extra}
                forger.publish(f"{gate.prefix}/{GATE}/alarm", json.dumps(body), qos=1).wait_for_publish(5)

            forge(nxt)                                   # no MAC at all
            forge(nxt + 1, mac="0" * 64)                 # a MAC, but not by the gate's key
            forge(nxt + 2, mac=signing.seal({"x": 1}, b"wrong key")["mac"])
            forge(10**15)                                # far ahead: would open a gap for ever
            forger.publish(f"{gate.prefix}/{GATE}/status", json.dumps(
                {"online": True, "gate": GATE, "last_seq": 10**15}), qos=1).wait_for_publish(5)
            wait_for(lambda: console.stats["unverified"] >= 5 and console.idle(), 10, "forgeries processed")
            assert {r.seq for r in store.recent(limit=50) if not r.verified} == {nxt, nxt + 1, nxt + 2, 10**15}
            state = store.gate_state(GATE)
            assert state.max_seq < nxt and state.reported_last_seq < nxt  # forgeries moved no mark
            assert store.gaps(GATE) == []

            for _ in range(3):  # the gate's own records nxt..nxt+2 (exit requests)
                gate.sim("exit")
            wait_for(lambda: gate.last_seq() >= nxt + 2, 5, "three exits journaled")
            wait_for(lambda: all(r.verified for r in store.recent(limit=50) if r.seq in (nxt, nxt + 1, nxt + 2))
                     and store.gate_state(GATE).contiguous == nxt + 2, 10, "the real records took their seqs back")
            real = {r.seq: r for r in store.recent(limit=50) if r.seq in (nxt, nxt + 1, nxt + 2)}
            assert {r.type for r in real.values()} == {"exit_request"} and all(r.verified for r in real.values())
            assert store.db.execute("SELECT COUNT(*) FROM conflicts WHERE gate=? AND seq BETWEEN ? AND ?",
                                    (GATE, nxt, nxt + 2)).fetchone()[0] == 3  # the forgeries, kept aside
            assert [(r.outcome, r.verified) for r in received if r.record["seq"] == nxt] == [
                ("new", False), ("new", True)]
            assert store.gaps(GATE) == []  # seq 10**15 is still unverified: no gap, no endless replays
        finally:
            forger.loop_stop()
            forger.disconnect()
