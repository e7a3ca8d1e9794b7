"""Station config, signed commands and the `gatectl station` command line against a fake gate."""
from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

import pytest

from gate.uplink import signing
from gate.clock import FakeClock
from gate.core.errors import ConfigError, InputError
from gate.station.cli import add_station_parser, command_args, normalize_card, run_station
from gate.station.commands import CommandChannel, build_command
from gate.station.config import load_station_config, parse_station_config
from gate.station.store import StationStore
from fakegate import FakeGate

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "station.example.toml"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gatectl")
    add_station_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def site(broker, tmp_path: Path):
    """A fake gate `north` and a station config file that can command it."""
    secret = tmp_path / "north.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    conf = tmp_path / "station.toml"
    conf.write_text(f"""
[station]
client_id = "station-test"
store = "station.db"
[mqtt]
port = {broker.port}
topic_prefix = "compound"
[commands]
result_timeout_seconds = 5
[gates.north]
secret_file = "north.secret"
""")
    gate = FakeGate(broker.port, "north", signing.load_secret(secret))
    try:
        yield gate, conf
    finally:
        gate.close()


def test_build_command_is_signed_as_the_gate_verifies_it():
    clock = FakeClock()
    cmd = build_command("north", "unlock", {"seconds": 5}, b"k3y", clock=clock)
    assert signing.verify(cmd, b"k3y") and not signing.verify(cmd, b"other")
    assert cmd["issued_at"] == "2026-11-29T10:00:00.000Z"
    assert len(cmd["cmd_id"]) == 32 and int(cmd["cmd_id"], 16) >= 0
    assert {k: cmd[k] for k in ("gate", "action", "seconds")} == {"gate": "north", "action": "unlock", "seconds": 5}
    with pytest.raises(InputError, match="reserved"):
        build_command("north", "unlock", {"sig": "x"}, b"k")
    with pytest.raises(InputError, match="topic level"):
        build_command("a/b", "unlock", {}, b"k")


@pytest.mark.parametrize("argv, expected", [
    (["unlock", "--seconds", "7"], ("unlock", {"seconds": 7})),
    (["lockdown", "on"], ("lockdown", {"on": True})),
    (["replay", "5", "9"], ("replay", {"from_seq": 5, "to_seq": 9})),
    (["replay", "5"], ("replay", {"from_seq": 5})),
    (["passes", "--revoke", "04:a1:b2:c3"], ("passes", {"upsert": [], "revoke": ["04A1B2C3"]})),
    (["passes", "--upsert-json", '[{"card":"04a1b2c3d4e5f6","name":"Li"}]'],
     ("passes", {"upsert": [{"card": "04A1B2C3D4E5F6", "name": "Li"}], "revoke": []})),
    # sent as written: the gate reads a bare date as that whole day in its gate.timezone (one date rule)
    (["quarantine", "--household", "3-201", "--until", "2026-12-13"],
     ("quarantine", {"household": "3-201", "until": "2026-12-13"})),
    (["raw", "reboot", "--arg", "delay=3", "--arg", "why=maintenance"], ("reboot", {"delay": 3, "why": "maintenance"})),
])
def test_send_arguments_become_command_fields(argv, expected):
    assert command_args(parse(["station", "-c", "x", "send", "north", *argv])) == expected


@pytest.mark.parametrize("argv, message", [
    (["unlock", "--seconds", "0"], "--seconds"),
    (["replay", "9", "5"], "FROM <= TO"),
    (["passes"], "--upsert-json and/or --revoke"),
    (["passes", "--revoke", "XYZ"], "4 or 7 bytes"),
    (["passes", "--upsert-json", '[{"card":"04A1B2C3"}]'], r"\[0\]: needs card and name"),
])
def test_bad_send_arguments_are_named(argv, message):
    with pytest.raises(InputError, match=message):
        command_args(parse(["station", "-c", "x", "send", "north", *argv]))


def test_example_config_is_valid_and_documents_every_key():
    cfg = load_station_config(EXAMPLE)
    assert cfg.topic_prefix == "compound" and cfg.gate_secrets
    text = EXAMPLE.read_text()
    for key in ("client_id", "store", "host", "port", "topic_prefix", "keepalive_seconds", "protocol", "username",
                "password_file", "shared_group", "session_expiry_seconds", "enabled", "tls_ca_file", "tls_cert_file",
                "tls_key_file", "grace_seconds", "retry_initial_seconds", "retry_max_seconds", "max_batch",
                "backfill_new_gates", "result_timeout_seconds", "secret_file"):
        assert f"{key} =" in text, key


def test_config_problems_are_all_reported_with_their_key_path():
    with pytest.raises(ConfigError) as err:
        parse_station_config({"mqtt": {"port": 0, "topik_prefix": "x", "shared_group": "a/b", "protocol": 4},
                              "replay": {"max_batch": "many"}, "gates": {"n": {}}, "extra": {}})
    problems = err.value.problems
    assert "mqtt.port: must be between 1 and 65535, got 0" in problems
    assert any(p.startswith("mqtt.topik_prefix: unknown key (did you mean 'topic_prefix'?)") for p in problems)
    assert any(p.startswith("mqtt.shared_group: must not contain") for p in problems)
    assert 'mqtt.shared_group: shared subscriptions need mqtt.protocol = "5"' in problems
    assert any(p.startswith("replay.max_batch: must be a int") for p in problems)

    assert "gates.n.secret_file: required" in problems
    assert any(p.startswith("extra: unknown table") for p in problems)


def test_station_spells_shared_settings_as_the_gate_does_old_spelling_deprecated():
    new = parse_station_config({"mqtt": {"protocol": "3.1.1", "keepalive_seconds": 15,
                                         "tls_ca_file": "ca.crt"}}, Path("/etc/st"))
    assert (new.protocol, new.keepalive, new.tls.enabled, new.tls.ca_file) == (4, 15, True, "/etc/st/ca.crt")
    assert new.warnings == ()
    old = parse_station_config({"mqtt": {"protocol": 5, "keepalive": 15, "tls": {"enabled": True, "ca_file": "ca.crt"}}},
                               Path("/etc/st"))
    assert (old.protocol, old.keepalive, old.tls.enabled, old.tls.ca_file) == (5, 15, True, "/etc/st/ca.crt")
    assert [w.split(":")[0] for w in old.warnings] == ["mqtt.keepalive", "mqtt.protocol", "mqtt.tls.ca_file"]
    with pytest.raises(ConfigError) as err:
        parse_station_config({"mqtt": {"protocol": "4", "keepalive": 10, "keepalive_seconds": 10}})
    assert 'mqtt.protocol: must be "3.1.1" or "5", got \'4\'' in err.value.problems
    assert any(p.startswith("mqtt.keepalive: give keepalive_seconds only") for p in err.value.problems)

def test_missing_secret_names_the_gate():
    cfg = parse_station_config({})
    with pytest.raises(ConfigError, match="gates.south.secret_file: no command secret for gate 'south'"):
        cfg.secret_for("south")


def test_signed_unlock_is_accepted_and_the_result_printed(site, capsys):
    gate, conf = site
    assert run_station(parse(["station", "-c", str(conf), "send", "north", "unlock", "--seconds", "3"])) == 0
    out = capsys.readouterr().out
    assert len(gate.commands) == 1 and gate.commands[0]["action"] == "unlock"
    assert gate.commands[0]["seconds"] == 3
    assert out.strip() == f"north unlock {gate.commands[0]['cmd_id']}: ok"


def test_command_signed_with_the_wrong_secret_is_rejected(site, capsys, tmp_path):
    gate, conf = site
    (tmp_path / "north.secret").write_text("not-the-gate-secret")
    assert run_station(parse(["station", "-c", str(conf), "send", "north", "lockdown", "on"])) == 1
    assert "rejected: bad signature" in capsys.readouterr().out
    assert gate.commands == [] and gate.rejected[0][1] == "bad signature"


def test_no_answer_times_out_with_exit_1(site, capsys, tmp_path):
    _, conf = site
    text = conf.read_text().replace("result_timeout_seconds = 5", "result_timeout_seconds = 0.3")
    conf.write_text(text + '[gates.silent]\nsecret_file = "north.secret"\n')
    assert run_station(parse(["station", "-c", str(conf), "send", "silent", "unlock"])) == 1
    assert "timed out" in capsys.readouterr().out


def test_an_ack_the_gate_does_not_confirm_is_not_an_acknowledgement(site, capsys, tmp_path):
    # This fake gate answers ok:true without saying which alarms it acknowledged (as gates did before
    # the ack answer told the truth): the console must not claim the alarm is acknowledged.
    gate, conf = site
    assert run_station(parse(["station", "-c", str(conf), "ack", "north", "7", "--by", "officer wang"])) == 1
    assert gate.commands[0]["action"] == "ack" and gate.commands[0]["seq"] == 7
    with StationStore(tmp_path / "station.db") as store:
        assert store.acked_by("north", 7) is None
    assert "alarm 7: NOT acknowledged: the gate accepted the command but did not confirm" in capsys.readouterr().out


def test_gaps_command_prints_known_gaps(site, capsys, tmp_path):
    _, conf = site
    with StationStore(tmp_path / "station.db") as store:
        store.set_status("north", {"online": True, "gate": "north", "last_seq": 3})
    assert run_station(parse(["station", "-c", str(conf), "gaps", "--json"])) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["gate"] == "north" and (line["from_seq"], line["to_seq"], line["missing"]) == (1, 3, 3)


def test_unreachable_broker_exits_3_naming_it(tmp_path, capsys):
    from broker import free_port
    conf = tmp_path / "s.toml"
    conf.write_text(f'[mqtt]\nport = {free_port()}\n[gates.north]\nsecret_file = "k"\n')
    (tmp_path / "k").write_text("key")
    assert run_station(parse(["station", "-c", str(conf), "send", "north", "unlock"])) == 3
    assert "cannot reach broker 127.0.0.1" in capsys.readouterr().err


def test_bad_config_exits_2_with_problems(tmp_path, capsys):
    conf = tmp_path / "bad.toml"
    conf.write_text("[mqtt]\nport = 70000\n")
    assert run_station(parse(["station", "-c", str(conf), "gaps"])) == 2
    assert capsys.readouterr().err.strip() == "mqtt.port: must be between 1 and 65535, got 70000"


def test_command_channel_closes_twice(site):
    _, conf = site
    channel = CommandChannel(load_station_config(conf))
    channel.close()
    channel.close()


def test_normalize_card():
    assert normalize_card("04-a1-b2-c3") == "04A1B2C3"


def test_watch_json_prints_records_and_stops_cleanly_on_sigterm(site):
    import queue
    import signal
    import subprocess
    import sys
    import threading

    gate, conf = site
    proc = subprocess.Popen([sys.executable, "-m", "gate.station.cli", "station", "-c", str(conf), "watch", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        # Records journaled before the console starts arrive by replay (status last_seq); then live ones.
        first = gate.emit("access_granted", card="04A1B2C3")
        alarm = gate.emit("forced_open")
        got = [json.loads(lines.get(timeout=15)) for _ in range(2)]
        assert sorted(r["seq"] for r in got) == [first["seq"], alarm["seq"]]
        assert {r["type"] for r in got} == {"access_granted", "forced_open"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read()
