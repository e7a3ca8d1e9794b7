"""The README's first command: `gatectl demo --station` runs the gate, a private broker and the
station's web console, creates a first officer, and stops all three on SIGINT."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from broker import free_port
from gatefixture import wait_for

pytest.importorskip("starlette")
REPO = Path(__file__).resolve().parents[2]


def _demo_configs(tmp: Path, mqtt_port: int, web_port: int) -> Path:
    (tmp / "config").mkdir()
    for name in ("simulated.toml", "station-demo.toml"):
        text = (REPO / "config" / name).read_text(encoding="utf-8").replace("port = 1883", f"port = {mqtt_port}")
        text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{web_port}"')
        (tmp / "config" / name).write_text(text, encoding="utf-8")
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_demo_with_station_serves_the_console_and_a_forced_opening_reaches_it(tmp_path):
    mqtt_port, web_port = free_port(), free_port()
    work = _demo_configs(tmp_path, mqtt_port, web_port)
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen([sys.executable, "-m", "gate.cli", "demo", "-c", "config/simulated.toml",
                             "--station", "config/station-demo.toml"], cwd=work, stdout=log, stderr=log,
                            text=True)
    base = f"http://127.0.0.1:{web_port}"
    try:
        def said(pattern):
            log.flush()
            return re.search(pattern, (tmp_path / "demo.log").read_text())

        station = wait_for(lambda: said(r"the station runs \(pid (\d+)\).*password (\S+);"), 30, "station started")
        broker = wait_for(lambda: said(r"started mosquitto \(pid (\d+)\)"), 5, "broker started")
        station_pid, password, broker_pid = int(station.group(1)), station.group(2), int(broker.group(1))
        with httpx.Client(base_url=base, timeout=5) as web:
            wait_for(lambda: _answers(web), 30, "the console answers")
            assert web.post("/api/login", json={"user": "demo", "password": "wrong-one"}).status_code == 401
            assert web.post("/api/login", json={"user": "demo", "password": password}).status_code == 200
            sim = [sys.executable, "-m", "gate.cli", "sim", "-c", "config/simulated.toml"]
            wait_for(lambda: subprocess.run([*sim, "state"], cwd=work, capture_output=True).returncode == 0,
                     30, "the gate runs")
            out = subprocess.run([*sim, "door", "open"], cwd=work, capture_output=True, text=True, timeout=30)
            assert "forced_open" in out.stdout
            alarm = wait_for(lambda: [a for a in web.get("/api/alarms").json() if a["type"] == "forced_open"],
                             15, "forced_open on the board")[0]
            assert alarm["gate"] == "gucun-47-north" and alarm["acknowledged"] is False
            assert alarm["gate_name"] == "Gucun No. 47 compound, north gate"
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0
        assert not _alive(station_pid) and not _alive(broker_pid)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        log.close()


def _answers(web: httpx.Client) -> bool:
    try:
        return web.get("/api/health").status_code in (200, 401)
    except httpx.HTTPError:
        return False
