"""`gatectl station watch` forwarding over DC-09 and `gatectl station receivers status`, as
subprocesses on a real station config file, mosquitto, a fake gate and pysiaalarm."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gate.uplink import signing
from fakegate import PREFIX, FakeGate
from hostile import HostileReceiver
from siareceiver import SiaReceiver

pytest.importorskip("pysiaalarm")


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling interval of a bounded wait
    return value


def gatectl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True, timeout=timeout)


def station_toml(tmp_path: Path, broker_port: int, receivers: list[tuple[str, int]], gate: str = "north") -> Path:
    secret = tmp_path / f"{gate}.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    entries = "".join(f'\n[[receivers]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\naccount = "1234"\n'
                      f"ack_timeout_seconds = 1\nretry_initial_seconds = 0.1\nretry_max_seconds = 0.5\n"
                      for name, port in receivers)
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstore = "station.db"\n[mqtt]\nport = {broker_port}\ntopic_prefix = "{PREFIX}"\n'
                   f'[gates.{gate}]\nsecret_file = "{secret.name}"\naccount = "4701"\n' + entries)
    return cfg


def test_receivers_status_probes_when_no_station_runs(tmp_path, broker):
    with SiaReceiver({"1234": None}) as rx, HostileReceiver(lambda f, n: None) as dead:
        dead_port = dead.port
        dead.close()  # nothing listens there any more
        cfg = station_toml(tmp_path, broker.port, [("arc-main", rx.port), ("arc-dead", dead_port)])
        out = gatectl("station", "-c", str(cfg), "receivers", "status")
        assert out.returncode == 1, out.stderr
        assert "arc-main  PASS" in out.stdout and "arc-dead  FAIL" in out.stdout and "1 down: arc-dead" in out.stdout
        rx.wait(lambda ev: any(e["message_type"] == "NULL" for e in ev), what="the probe's NULL")
        rows = [json.loads(line) for line in gatectl("station", "-c", str(cfg), "receivers", "status", "--json").stdout.splitlines()]
        assert [(r["receiver"], r["result"], r["state"]) for r in rows] == [("arc-main", "PASS", "up"), ("arc-dead", "FAIL", "down")]


def test_watch_forwards_a_forced_opening_and_status_reads_the_running_link(tmp_path, broker):
    with SiaReceiver({"4701": None}) as rx:
        cfg = station_toml(tmp_path, broker.port, [("arc", rx.port)])
        watch = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "watch", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        gate = FakeGate(broker.port, "north", signing.load_secret(tmp_path / "north.secret"))
        try:
            # The console's catch-up probe (a signed replay) shows it has subscribed.
            wait_for(lambda: gate.commands, timeout=20, what="the console subscribed and probed the gate")
            gate.emit("forced_open")
            alarms = rx.wait(lambda ev: len(ev) >= 1, what="forced opening at the receiver")
            assert (alarms[0]["account"], alarms[0]["event_type"], alarms[0]["code"]) == ("4701", "423", "DF")
            out = gatectl("station", "-c", str(cfg), "receivers", "status")
            assert out.returncode == 0, out.stdout + out.stderr
            assert "PASS  127.0.0.1" in out.stdout and "up since" in out.stdout and "probe" not in out.stdout
        finally:
            gate.close()
            watch.send_signal(signal.SIGTERM)
            watch.wait(15)
    assert watch.returncode == 0, watch.stderr.read()
