"""Small fake DC-09 receivers that misbehave, over real loopback sockets: each hands every frame it
reads (up to CR) to `respond(frame, n)` and sends back what that returns (None: stays silent)."""
from __future__ import annotations

import re
import socket
import threading

from gate.dc09.frame import crc16_arc
from gate.runtime.local_broker import free_port


def answer(kind: str, seq: str, account: str = "1234", rest: str = "]") -> bytes:
    body = f'"{kind}"{seq}R0L0#{account}[{rest}'.encode()
    return b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"


def seq_of(frame: bytes) -> str:
    m = re.search(rb'"\*?[A-Z-]+"(\d{4})', frame)
    return m.group(1).decode() if m else "0000"


class HostileReceiver:
    """A threaded TCP listener; `frames` is every frame received, in order."""

    def __init__(self, respond, port: int | None = None):
        self.respond = respond
        self.port = port or free_port()
        self.frames: list[bytes] = []
        self.connections = 0
        self._cond = threading.Condition()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(8)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\r" in buf:
                frame, buf = buf.split(b"\r", 1)
                with self._cond:
                    self.frames.append(frame)
                    n = len(self.frames)
                    self._cond.notify_all()
                reply = self.respond(frame, n)
                if reply:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def wait_frames(self, n: int, timeout: float = 10.0) -> list[bytes]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.frames) >= n, timeout):
                raise AssertionError(f"hostile receiver got {len(self.frames)} frames, wanted {n}")
            return list(self.frames)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self) -> "HostileReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
