"""pysiaalarm, the independent DC-09 receiver, as a test fixture: in this process (`SiaReceiver`) or
as a subprocess that can be killed like a crashed receiver (`SiaReceiverProcess`). Both collect the
events pysiaalarm accepted (CRC, timestamp, decryption checked; ACK sent) as plain dicts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from gate.runtime.local_broker import free_port


def event_dict(ev) -> dict:
    return {"code": ev.code, "event_type": ev.event_type, "event_qualifier": ev.event_qualifier,
            "ri": ev.ri, "account": ev.account, "sequence": ev.sequence, "encrypted": bool(ev.encrypted),
            "message_type": getattr(ev.message_type, "value", ev.message_type), "partition": ev.partition,
            "received": time.monotonic()}


class SiaReceiver:
    """pysiaalarm's threaded TCP server on loopback; `events` in arrival order."""

    def __init__(self, accounts: dict[str, str | None], port: int | None = None, on_event=None):
        from pysiaalarm import SIAAccount, SIAClient

        self.port = port or free_port()
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._on_event = on_event

        def callback(ev) -> None:
            d = event_dict(ev)
            with self._cond:
                self.events.append(d)
                self._cond.notify_all()
            if self._on_event is not None:
                self._on_event(d)

        self.client = SIAClient("127.0.0.1", self.port, [SIAAccount(a, k) for a, k in accounts.items()], callback)

    def __enter__(self) -> "SiaReceiver":
        self.client.start()
        return self

    def __exit__(self, *exc) -> None:
        self.client.stop()

    def alarms(self) -> list[dict]:
        with self._cond:
            return [e for e in self.events if e["message_type"] != "NULL"]

    def wait(self, predicate, timeout: float = 15.0, what: str = "receiver events") -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {self.events}")
                self._cond.wait(left)
            return list(self.events)


_CHILD = r"""
import json, sys, threading
from pysiaalarm import SIAAccount, SIAClient
port, accounts = int(sys.argv[1]), json.loads(sys.argv[2])
lock = threading.Lock()
def cb(ev):
    with lock:
        print(json.dumps({"code": ev.code, "event_type": ev.event_type, "account": ev.account,
                          "sequence": ev.sequence, "ri": ev.ri,
                          "message_type": getattr(ev.message_type, "value", ev.message_type)}), flush=True)
client = SIAClient("127.0.0.1", port, [SIAAccount(a, k) for a, k in accounts.items()], cb)
client.start()
print("READY", flush=True)
sys.stdin.read()
"""


class SiaReceiverProcess:
    """pysiaalarm in a child process: `start()`, `kill()` (SIGKILL: every connection dies with it),
    `start()` again on the same port. `events` accumulates over all runs."""

    def __init__(self, accounts: dict[str, str | None], port: int | None = None):
        self.port = port or free_port()
        self.accounts = accounts
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "SiaReceiverProcess":
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(self.port), json.dumps(self.accounts)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout.readline().strip() == "READY", "pysiaalarm child did not start"
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self._cond:
                self.events.append(json.loads(line))
                self._cond.notify_all()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def alarms(self) -> list[dict]:
        with self._cond:
            return [e for e in self.events if e["message_type"] != "NULL"]

    def wait(self, predicate, timeout: float = 15.0, what: str = "receiver events") -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {len(self.events)} events")
                self._cond.wait(left)
            return list(self.events)
