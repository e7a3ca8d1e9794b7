"""`gatectl station serve` and `officers add` as real subprocesses: serve waits for a missing broker
(the page meanwhile says the station lost it), then stores records and serves them; SIGTERM stops it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from broker import MosquittoBroker, free_port
from gatefixture import wait_for

from gate.station.config import load_station_config

PW = "a long enough password"


def gatectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def write_config(tmp_path, broker_port: int, web_port: int):
    (tmp_path / "g.secret").write_text("serve-test-secret-0123456789\n")
    path = tmp_path / "station.toml"
    path.write_text(f"""
[station]
store = "station.db"
timezone = "Asia/Shanghai"
[mqtt]
port = {broker_port}
[web]
listen = "127.0.0.1:{web_port}"
[gates."g1"]
secret_file = "g.secret"
name = "Gate one"
compound = "c1"
""")
    return path


def test_officers_add_reads_the_password_from_stdin_and_rejects_bad_input(tmp_path):
    cfg = write_config(tmp_path, free_port(), free_port())
    out = gatectl("station", "-c", str(cfg), "officers", "add", "wang", "--role", "supervisor", stdin=PW + "\nignored\n")
    assert out.returncode == 0, out.stderr
    assert "wang: supervisor" in out.stdout and PW not in out.stdout
    out = gatectl("station", "-c", str(cfg), "officers", "add", "zhao", "--role", "guard", stdin=PW + "\n")
    assert out.returncode == 2 and "--compound" in out.stderr
    out = gatectl("station", "-c", str(cfg), "officers", "add", "short", stdin="abc\n")
    assert out.returncode == 2 and "password" in out.stderr
    listed = gatectl("station", "-c", str(cfg), "officers", "list").stdout
    assert "wang\tsupervisor" in listed and "zhao" not in listed
    db = (tmp_path / "station.db").read_bytes()
    assert PW.encode() not in db


def test_web_config_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[web]\nlisten = "nonsense"\nlisen = 1\n[station]\ntimezone = "Nowhere/Else"\n')
    out = gatectl("station", "-c", str(path), "serve")
    assert out.returncode == 2
    assert "web.listen: must be HOST:PORT" in out.stderr and "web.lisen: unknown key (did you mean 'listen'?)" in out.stderr
    assert "station.timezone: unknown time zone" in out.stderr


def test_serve_waits_for_a_missing_broker_then_serves(tmp_path):
    broker_port, web_port = free_port(), free_port()
    cfg = write_config(tmp_path, broker_port, web_port)
    assert gatectl("station", "-c", str(cfg), "officers", "add", "wang", stdin=PW + "\n").returncode == 0
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "serve"],
                            stdout=log, stderr=log)
    broker = None
    try:
        url = f"http://127.0.0.1:{web_port}"

        def up():
            try:
                return httpx.post(url + "/api/login", json={"user": "wang", "password": PW})
            except httpx.HTTPError:
                return None

        login = wait_for(up, 20, "the console answers while the broker is missing")
        client = httpx.Client(base_url=url, cookies=login.cookies)
        assert client.get("/api/health").json()["broker_connected"] is False
        assert proc.poll() is None  # still running, retrying

        broker = MosquittoBroker(broker_port).start()
        wait_for(lambda: client.get("/api/health").json()["broker_connected"], 40, "serve reached the broker")
        import paho.mqtt.publish as publish

        publish.single("compound/g1/alarm", '{"gate":"g1","seq":1,"id":"a1","ts":"2026-12-02T01:00:00.000Z",'
                       '"type":"forced_open","historical":false}', qos=1, port=broker_port)
        items = wait_for(lambda: client.get("/api/alarms").json(), 10, "the alarm stored and listed")
        assert items[0]["gate_name"] == "Gate one" and items[0]["time_local"].endswith("09:00:00")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
            if broker is not None:
                broker.close()
            log.close()
    assert rc == 0, (tmp_path / "serve.log").read_text()
    assert load_station_config(cfg).web.port == web_port
