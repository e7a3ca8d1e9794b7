"""A real gatectl daemon under a fake systemd: config writer, notify socket listener, start/stop helpers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path




REPO = Path(__file__).resolve().parents[2]


class NotifyListener:
    """The systemd side of NOTIFY_SOCKET: a bound datagram socket collecting state lines."""

    def __init__(self, path: Path | None = None, *, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"gate-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            self.sock.bind(str(path))
            self.env_value = str(path)
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key: str, value: str = "1", *, timeout: float = 20.0, count: int = 1) -> dict[str, str]:
        """Read datagrams until `count` of them carry key=value; the last such one is returned."""
        deadline = time.monotonic() + timeout
        seen = sum(1 for m in self.messages if m.get(key) == value)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {key}={value} (x{count}) within {timeout} s; got {self.messages}")
            msg = self.receive(remaining)
            if msg is not None and msg.get(key) == value:
                seen += 1
                if seen >= count:
                    return msg

    def close(self) -> None:
        self.sock.close()


def write_sim_config(folder: Path, extra: str = "", *, unlock_seconds: float = 5) -> Path:
    """A simulated gate with the uplink off, its state inside `folder`."""
    secret = folder / "command.secret"
    if not secret.exists():
        secret.write_text("test-secret-of-at-least-32-bytes-0123456789\n")
        secret.chmod(0o600)
    path = folder / "gate.toml"
    path.write_text(f"""
[gate]
id = "test-gate"
[storage]
dir = "state"
[hardware]
mode = "simulated"
[mqtt]
enabled = false
command_secret_file = "command.secret"
[lock]
unlock_seconds = {unlock_seconds}
{extra}
""")
    return path


def start_gate(config: Path, notify: NotifyListener, watchdog_usec: int = 400_000) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": str(watchdog_usec)}
    env.pop("WATCHDOG_PID", None)
    env.pop("JOURNAL_STREAM", None)
    return subprocess.Popen([sys.executable, "-m", "gate.cli", "run", "-c", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_gate(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out
