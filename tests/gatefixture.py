"""Test helpers around a real gate daemon and a station-side MQTT client.

`GateProcess` writes a simulated-gate config, starts `gatectl run -c CFG` as a subprocess, waits for a
condition, drives the emulated hardware through the sim socket and stops the daemon by PID.
`StationClient` is a paho client on the station side: it collects what the gate publishes (by topic
and by seq) and sends signed commands. Both are reusable by any test that needs a running gate.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gate.uplink.signing import sign
from gate.core.timefmt import format_ts

SECRET = b"test-command-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout: float, what: str = "condition", interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # polling interval of a bounded wait, not synchronisation by sleep


def gate_config(storage_dir: Path, *, port: int, gate_id: str = "test-gate", prefix: str = "compound",
                keepalive: int = 5, extra: str = "") -> str:
    """A simulated-gate TOML config (fast reconnects, no debounce) talking to 127.0.0.1:`port`."""
    return f"""
[gate]
id = "{gate_id}"

[storage]
dir = "{storage_dir}"

[hardware]
mode = "simulated"

[mqtt]
host = "127.0.0.1"
port = {port}
topic_prefix = "{prefix}"
command_secret_file = "{storage_dir}/command.secret"
keepalive_seconds = {keepalive}
reconnect_min_seconds = 0.1
reconnect_max_seconds = 1.0

[door]
debounce_ms = 0
{extra}
"""


class GateProcess:
    """A `gatectl run` subprocess with a simulated gate. Use as a context manager (stops it)."""

    def __init__(self, workdir: Path, *, port: int, gate_id: str = "test-gate", prefix: str = "compound",
                 keepalive: int = 5, extra_toml: str = "", secret: bytes = SECRET):
        self.dir = Path(workdir)
        self.storage = self.dir / "state"
        self.storage.mkdir(parents=True, exist_ok=True)
        (self.storage / "command.secret").write_bytes(secret + b"\n")
        self.config = self.dir / "gate.toml"
        self.config.write_text(gate_config(self.storage, port=port, gate_id=gate_id, prefix=prefix,
                                           keepalive=keepalive, extra=extra_toml))
        self.gate_id, self.prefix = gate_id, prefix
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "gate.log"

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, *, ready: Callable[[], Any] | None = None, timeout: float = 15.0) -> "GateProcess":
        """Start the daemon and wait until `ready()` (default: the sim socket answers `state`)."""
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gate.cli", "run", "-c", str(self.config), "--log-level", "debug"],
            stdout=log, stderr=log, cwd=str(REPO), env=env,
        )
        log.close()
        wait_for(lambda: self._alive_and(ready or self.sim_ready), timeout, f"gate daemon ready ({self.log_path})")
        return self

    def _alive_and(self, ready: Callable[[], Any]) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"gate daemon exited: {self.log_text()[-3000:]}")
        return ready()

    def sim_ready(self) -> bool:
        try:
            self.sim("state")
            return True
        except Exception:
            return False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM by PID and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        rc, self.proc = self.proc.returncode, None
        return rc

    def kill(self) -> None:
        """SIGKILL by PID (a power cut, as far as the process is concerned)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "GateProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- inspection -----------------------------------------------------------------------------
    def sim(self, action: str, **args) -> Any:
        from gate.runtime.simcontrol import send_sim

        return send_sim(self.storage, action, args)

    def journal_rows(self, sql: str = "SELECT seq, type, body FROM records ORDER BY seq", args=()) -> list:
        """Read the daemon's journal with a separate read-only connection (WAL allows it while running)."""
        path = self.storage / "journal.db"
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def last_seq(self) -> int:
        rows = self.journal_rows("SELECT COALESCE(MAX(seq), 0) FROM records")
        return rows[0][0] if rows else 0

    def records_of(self, record_type: str) -> list[dict]:
        return [json.loads(b) for (b,) in self.journal_rows(
            "SELECT body FROM records WHERE type = ? ORDER BY seq", (record_type,))]


class StationClient:
    """A station-side MQTT client: subscribes to `P/G/#`, keeps every message, sends signed commands."""

    def __init__(self, port: int, *, gate_id: str = "test-gate", prefix: str = "compound", secret: bytes = SECRET,
                 client_id: str | None = None, clean: bool = True):
        self.port, self.gate_id, self.prefix, self.secret = port, gate_id, prefix, secret
        self.base = f"{prefix}/{gate_id}"
        self._lock = threading.Lock()
        self.messages: list[tuple[str, dict, bool]] = []  # (topic, payload, retain)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"station-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean)
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, _u, _f, rc, _p=None):
        if not rc.is_failure:
            client.subscribe(f"{self.base}/#", qos=1)

    def _on_message(self, _c, _u, msg):
        try:
            payload = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            payload = {"_raw": msg.payload}
        with self._lock:
            self.messages.append((msg.topic, payload, bool(msg.retain)))

    def connect(self, timeout: float = 10.0) -> "StationClient":
        self._subscribed.clear()
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise AssertionError("station client: no SUBACK")
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> "StationClient":
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what arrived ---------------------------------------------------------------------------
    def on(self, suffix: str) -> list[dict]:
        topic = f"{self.base}/{suffix}"
        with self._lock:
            return [p for t, p, _r in self.messages if t == topic]

    def records(self) -> list[dict]:
        with self._lock:
            return [p for t, p, _r in self.messages if t in (f"{self.base}/event", f"{self.base}/alarm")]

    def seqs(self) -> set[int]:
        return {r["seq"] for r in self.records()}

    def has_seqs(self, first: int, last: int) -> bool:
        return set(range(first, last + 1)) <= self.seqs()

    def result(self, cmd_id: str) -> dict | None:
        for p in self.on("cmd/result"):
            if p.get("cmd_id") == cmd_id:
                return p
        return None

    def wait_result(self, cmd_id: str, timeout: float = 10.0) -> dict:
        return wait_for(lambda: self.result(cmd_id), timeout, f"cmd/result for {cmd_id}")

    # --- commands -------------------------------------------------------------------------------
    def command(self, action: str, *, gate: str | None = None, issued_at=None, cmd_id: str | None = None,
                key: bytes | None = None, signed: bool = True, **args) -> dict:
        obj = {"cmd_id": cmd_id or uuid.uuid4().hex, "gate": gate or self.gate_id,
               "issued_at": issued_at or format_ts(_utcnow()), "action": action, **args}
        return sign(obj, key or self.secret) if signed else obj

    def send(self, obj: dict, *, retain: bool = False) -> str:
        info = self.client.publish(f"{self.base}/cmd", json.dumps(obj), qos=1, retain=retain)
        info.wait_for_publish(5)
        return obj.get("cmd_id", "")


def _utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
