"""`serve` forwards alarms to the configured SIA DC-09 receivers (interface §6.2) while it serves the
console: a subprocess on a real config, mosquitto, FakeGate and pysiaalarm as the receiver."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest

from broker import free_port
from fakegate import PREFIX, FakeGate
from gatefixture import wait_for

from gate.uplink import signing

siareceiver = pytest.importorskip("siareceiver")
PW = "a long enough password"


def test_serve_forwards_a_forced_opening_to_the_receiver_and_shows_it(tmp_path, broker):
    secret = tmp_path / "north.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    web_port = free_port()
    with siareceiver.SiaReceiver({"4701": None}) as rx:
        cfg = tmp_path / "station.toml"
        cfg.write_text(f'[station]\nstore = "station.db"\n[mqtt]\nport = {broker.port}\ntopic_prefix = "{PREFIX}"\n'
                       f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
                       f'[gates.north]\nsecret_file = "north.secret"\naccount = "4701"\nname = "North gate"\n'
                       f'[[receivers]]\nname = "arc"\nhost = "127.0.0.1"\nport = {rx.port}\naccount = "1234"\n')
        add = subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "officers", "add", "wang"],
                             input=PW + "\n", capture_output=True, text=True, timeout=30)
        assert add.returncode == 0, add.stderr
        log = open(tmp_path / "serve.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "serve"],
                                stdout=log, stderr=log)
        gate = FakeGate(broker.port, "north", signing.load_secret(secret))
        try:
            wait_for(lambda: gate.commands, 20, "serve subscribed and probed the gate")
            gate.emit("forced_open")
            alarms = rx.wait(lambda ev: len(ev) >= 1, what="forced opening at the receiver")
            assert (alarms[0]["account"], alarms[0]["code"]) == ("4701", "DF")
            client = httpx.Client(base_url=f"http://127.0.0.1:{web_port}")
            assert client.post("/api/login", json={"user": "wang", "password": PW}).status_code == 200
            items = wait_for(lambda: client.get("/api/alarms").json(), 10, "the alarm on the board")
            assert items[0]["gate_name"] == "North gate" and items[0]["type"] == "forced_open"
            # The receiver link's state is on the console (Gates view), as `receivers status` shows it.
            links = wait_for(lambda: [r for r in client.get("/api/gates").json()["receivers"] if r["state"] == "up"],
                             10, "the receiver link up on the console")
            assert links[0]["name"] == "arc" and links[0]["address"] == f"127.0.0.1:{rx.port}"
            assert links[0]["pending"] == 0
        finally:
            gate.close()
            os.kill(proc.pid, signal.SIGTERM)
            rc = proc.wait(15)
            log.close()
    assert rc == 0, (tmp_path / "serve.log").read_text()
