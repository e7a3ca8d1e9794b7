"""Video verification: frames fetched from a camera's HTTP snapshot URL (a local HTTP server serving
JPEGs with basic auth) at alarm time and after, stored with the alarm and served to the page; a
camera that never answers does not delay the alarm."""
from __future__ import annotations

import base64
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from consolekit import ConsoleServer, console_config, logged_in
from fakegate import FakeGate
from gatefixture import wait_for

from gate.station.config import GateInfo, WebConfig
from gate.station.snapshots import SnapshotTaker

KEY = b"snapshot-test-secret-0123456789a"
FRAMES = [b"\xff\xd8\xff\xe0JPEG-frame-%d\xff\xd9" % i for i in range(10)]


class Camera(BaseHTTPRequestHandler):
    served: list[bytes] = []

    def do_GET(self):
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"admin:cam-pass").decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.end_headers()
            return
        frame = FRAMES[len(Camera.served) % len(FRAMES)]
        Camera.served.append(frame)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(frame)))
        self.end_headers()
        self.wfile.write(frame)

    def log_message(self, *a):
        pass


@pytest.fixture
def camera():
    Camera.served = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/ISAPI/Streaming/channels/101/picture"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def silent_camera():
    """Accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/picture"
    s.close()


def run(broker, tmp_path, url, timeout: float = 1.0):
    secret = tmp_path / "k"
    secret.write_bytes(KEY)
    auth = tmp_path / "cam.auth"
    auth.write_text("admin:cam-pass\n")
    info = GateInfo(name="North", compound="c", snapshot_url=url, snapshot_auth_file=str(auth))
    cfg = console_config(tmp_path, broker.port, {"n": (secret, info)},
                         web=WebConfig(port=__import__("broker").free_port(), snapshot_timeout_seconds=timeout))
    server = ConsoleServer(cfg)
    server.link.taker.close()
    server.link.taker = SnapshotTaker(cfg, server.console.snapshots, offsets=(0.0, 0.3))
    return server


def test_frames_at_alarm_time_and_after_are_stored_and_served(broker, tmp_path, camera):
    gate = FakeGate(broker.port, "n", KEY)
    with run(broker, tmp_path, camera) as server:
        server.add_officer("wang")
        api = logged_in(server, "wang")
        rec = gate.emit("forced_open")
        shots = wait_for(lambda: [s for s in api.get(f"/api/alarms/n/{rec['seq']}").json()["snapshots"]
                                  if not s["error"]] if len(Camera.served) >= 2 else None, 10, "two frames")
        assert [s["n"] for s in shots] == [0, 1]
        for s in shots:
            r = api.get(f"/api/alarms/n/{rec['seq']}/snapshots/{s['n']}")
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            assert r.content == Camera.served[s["n"]]
        assert api.get(f"/api/alarms/n/{rec['seq']}/snapshots/7").status_code == 404
        gate.emit("door_opened")  # not an alarm: no frames
    gate.close()
    assert len(Camera.served) == 2


def test_a_camera_that_never_answers_does_not_delay_the_alarm(broker, tmp_path, silent_camera):
    gate = FakeGate(broker.port, "n", KEY)
    with run(broker, tmp_path, silent_camera, timeout=4.0) as server:
        server.add_officer("wang")
        api = logged_in(server, "wang")
        rec = gate.emit("forced_open")
        wait_for(lambda: api.get("/api/alarms").json(), 10, "the alarm on the board")
        # ...while the camera is still being waited for: no frame and no failure recorded yet.
        assert api.get(f"/api/alarms/n/{rec['seq']}").json()["snapshots"] == []
        errors = wait_for(lambda: [s for s in api.get(f"/api/alarms/n/{rec['seq']}").json()["snapshots"]
                                   if s["error"]], 10, "the camera failure recorded")
        assert "timed out" in errors[0]["error"]
    gate.close()
