"""The daemon's local control socket (`storage.dir/control.sock`): one JSON line in, one out.

It carries `gatectl sim` actions on a simulated gate, and `gatectl passes issue` (writing a card's
credential through the reader the daemon owns) on any gate. Only the daemon's own user can reach it:
the socket is created 0600 inside the storage folder.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable

from gate.core.errors import GateError, InputError

log = logging.getLogger("gate.sim")

SOCKET_NAME = "control.sock"
SIM_ACTIONS = ("tap", "temp", "door", "keys", "exit", "fire", "tamper", "state", "reader", "keypad_line")
MAX_REQUEST = 64 * 1024


class SimControlUnavailable(GateError, ConnectionError):
    """No simulated daemon answers on the socket."""


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST)
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise InputError("request must be a JSON object")
            result = self.server.dispatch(request.get("action"), request.get("args") or {})
            reply = {"ok": True, "result": result}
        except (InputError, ValueError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # the daemon must outlive a bad sim request
            log.exception("sim action failed")
            reply = {"ok": False, "error": f"internal error: {exc}"}
        self.wfile.write((json.dumps(reply) + "\n").encode())


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    handlers: dict[str, Callable[..., Any]] = {}

    def dispatch(self, action: Any, args: dict) -> Any:
        if action not in self.handlers:
            known = ", ".join(sorted(self.handlers)) or "none"
            raise InputError(f"action {action!r} is not available on this gate; available: {known}")
        if not isinstance(args, dict):
            raise InputError("args must be a JSON object")
        return self.handlers[action](**args)


def simulator_handlers(simulator) -> dict[str, Callable[..., Any]]:
    return {name: getattr(simulator, name) for name in SIM_ACTIONS}


class ControlServer:
    """Serves control actions (a name → callable map) on a unix socket in a background thread."""

    def __init__(self, storage_dir: Path, handlers: dict[str, Callable[..., Any]]):
        self.path = Path(storage_dir) / SOCKET_NAME
        if self.path.exists():
            self.path.unlink()  # a stale socket from a killed daemon
        # Bound, then made 0600 before it serves anyone (the storage folder itself is 0700/0750, so
        # nobody else can reach it in between); no process-wide umask change while threads run.
        self._server = _Server(str(self.path), _Handler)
        os.chmod(self.path, 0o600)
        self._server.handlers = dict(handlers)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-control", daemon=True)

    def start(self) -> "ControlServer":
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def send_control(storage_dir: Path, action: str, args: dict[str, Any], timeout: float = 10.0) -> Any:
    """Send one action to the running daemon; return its result or raise with its error."""
    path = Path(storage_dir) / SOCKET_NAME
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall((json.dumps({"action": action, "args": args}) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise SimControlUnavailable(
            f"no gate daemon is running for this config (nothing answers on {path}); "
            "start one with: gatectl run -c CONFIG"
        ) from None
    except OSError as exc:
        raise SimControlUnavailable(f"{path}: {exc}") from None
    reply = json.loads(data or b"{}")
    if not reply.get("ok"):
        raise InputError(reply.get("error") or "the daemon gave no answer")
    return reply.get("result")


send_sim = send_control
