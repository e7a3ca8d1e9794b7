"""A fake gate for station tests: publishes signed-format records and answers replay requests over a real broker."""
from __future__ import annotations

import json
import socket
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gate.uplink import signing
from gate.clock import SystemClock
from gate.core.timefmt import format_ts, parse_ts


ALARMS = {"forced_open", "held_open", "tamper", "fire_release", "duress", "keypad_lockout", "fever",
          "quarantine_exit", "device_fault"}
PREFIX = "compound"


class FakeGate:
    """A gate as the station sees it: retained status with last will, journal records with seq on
    P/G/event and P/G/alarm, signed commands verified with gate.signing, replay of its journal.
    Records, status and results carry the gate's `mac` as the real uplink's do (`mac=False`: an old
    or misconfigured gate that sends none)."""

    def __init__(self, port: int, gate: str, key: bytes, *, prefix: str = PREFIX, mac: bool = True):
        self.gate, self.key, self.prefix, self.port = gate, key, prefix, port
        self.mac = mac
        self.journal: dict[int, dict] = {}
        self.commands: list[dict] = []  # accepted commands
        self.rejected: list[tuple[dict, str]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gate-{gate}-{uuid.uuid4().hex[:6]}")
        self.client.will_set(self.topic("status"), json.dumps(self._seal({"online": False, "gate": gate}, signing.STATUS)),
                             qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(5), "fake gate did not connect"

    def _seal(self, obj: dict, purpose: str) -> dict:
        return signing.seal(obj, self.key, purpose) if self.mac else obj

    def topic(self, leaf: str) -> str:
        return f"{self.prefix}/{self.gate}/{leaf}"

    def _on_connect(self, client, userdata, flags, rc, props=None):
        client.subscribe(self.topic("cmd"), qos=1)
        self.publish_status()
        self.connected.set()

    def publish_status(self, last_seq: int | None = None) -> None:
        last = max(self.journal, default=0) if last_seq is None else last_seq
        body = {"online": True, "gate": self.gate, "ts": format_ts(SystemClock().wall()), "last_seq": last}
        self.client.publish(self.topic("status"), json.dumps(self._seal(body, signing.STATUS)), qos=1, retain=True)

    def emit(self, type_: str, *, publish: bool = True, **fields) -> dict:
        """Journal a record; publish it unless `publish` is False (a record the broker lost)."""
        with self._lock:
            seq = max(self.journal, default=0) + 1
            rec = self._seal({"gate": self.gate, "seq": seq, "id": uuid.uuid4().hex,
                              "ts": format_ts(SystemClock().wall()), "type": type_, "historical": False, **fields},
                             signing.RECORD)
            self.journal[seq] = rec
        if publish:
            self.publish_record(rec)
        return rec

    def publish_record(self, rec: dict) -> mqtt.MQTTMessageInfo:
        kind = "alarm" if rec["type"] in ALARMS else "event"
        return self.client.publish(self.topic(kind), json.dumps(rec), qos=1)

    def _on_message(self, client, userdata, msg):
        cmd = json.loads(msg.payload)
        error = self._check(cmd, msg.retain)
        if error:
            self.rejected.append((cmd, error))
        else:
            self.commands.append(cmd)
            if cmd["action"] == "replay":
                to = cmd.get("to_seq", max(self.journal, default=0))
                for seq in range(cmd["from_seq"], to + 1):
                    if seq in self.journal:
                        self.publish_record({**self.journal[seq], "historical": True})
        result = {"cmd_id": cmd.get("cmd_id"), "ok": not error, **({"error": error} if error else {})}
        client.publish(self.topic("cmd/result"), json.dumps(self._seal(result, signing.RESULT)), qos=1)

    def _check(self, cmd: dict, retained: bool) -> str | None:
        if retained:
            return "retained command"
        if not signing.verify(cmd, self.key):
            return "bad signature"
        if cmd.get("gate") != self.gate:
            return "another gate's command"
        if abs((parse_ts(cmd["issued_at"]) - SystemClock().wall()).total_seconds()) > 30:
            return "stale command"
        if cmd["cmd_id"] in self._seen:
            return "cmd_id seen before"
        self._seen.add(cmd["cmd_id"])
        return None

    def crash(self) -> None:
        """Lose the connection without DISCONNECT, as a power cut does: the broker sends the will."""
        sock = self.client.socket()
        self.client.loop_stop()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
