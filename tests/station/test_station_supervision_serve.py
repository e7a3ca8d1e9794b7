"""Supervision end to end: real mosquitto, a real `gatectl station serve` subprocess and a fake gate.
The gate answers the station's probes while quiet (no alarm), then goes silent without a last will
(its MQTT loop stops, the connection stays open) and is a gate_silent alarm on `/api/alarms` under its
name; when it is heard again the station closes the alarm."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest

from broker import free_port
from fakegate import FakeGate
from gatefixture import wait_for

from gate.uplink import signing

PW = "a long enough password"


@pytest.mark.slow
def test_a_silent_gate_is_a_gate_silent_alarm_on_the_board_until_it_is_heard_again(tmp_path, broker):
    (tmp_path / "g.secret").write_text(uuid.uuid4().hex + "\n")
    key = signing.load_secret(tmp_path / "g.secret")
    web_port = free_port()
    cfg = tmp_path / "station.toml"
    cfg.write_text(f"""
[station]
store = "station.db"
supervision_seconds = 30
[mqtt]
port = {broker.port}
[web]
listen = "127.0.0.1:{web_port}"
[gates."g1"]
secret_file = "g.secret"
name = "Gate one"
supervision_seconds = 2
""")
    add = subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "officers", "add", "wang"],
                         input=PW + "\n", capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    gate = FakeGate(broker.port, "g1", key)
    back = None
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "serve"], stdout=log,
                            stderr=log)
    try:
        url = f"http://127.0.0.1:{web_port}"

        def login():
            try:
                return httpx.post(url + "/api/login", json={"user": "wang", "password": PW})
            except httpx.HTTPError:
                return None

        client = httpx.Client(base_url=url, cookies=wait_for(login, 30, "the console").cookies)

        def silent():
            return [a for a in client.get("/api/alarms").json() if a["type"] == "gate_silent"]

        # Quiet but alive: the station probes it every second; its signed answers count as hearing it.
        probes = lambda: [c for c in gate.commands if c["action"] == "replay" and "to_seq" not in c]  # noqa: E731
        wait_for(lambda: len(probes()) >= 3, 30, "three supervision probes answered")
        assert silent() == []  # 3 s without records or status, each probe answered: never silent

        gate.client.loop_stop()  # hung: no answers, no packets, the TCP connection stays (no last will)
        (alarm,) = wait_for(silent, 20, "the gate_silent alarm on /api/alarms")
        assert (alarm["gate"], alarm["gate_name"], alarm["state"], alarm["seq"]) == ("g1", "Gate one", "new", -1)
        assert alarm["details"]["origin"] == "station" and alarm["acknowledged"] is False

        back = FakeGate(broker.port, "g1", key)  # the gate restarts: its online status is heard
        closed = wait_for(lambda: [a for a in silent() if a["state"] == "closed"], 20, "the alarm closed")
        assert closed[0]["closed_by"] == "station" and closed[0]["acknowledged"] is True
        assert closed[0]["closed_at"] >= alarm["received_at"]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
            gate.client.loop_start()
            gate.close()
            if back is not None:
                back.close()
    assert rc == 0, (tmp_path / "serve.log").read_text()
