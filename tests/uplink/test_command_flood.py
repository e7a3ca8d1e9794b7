"""Hostile traffic on P/G/cmd never holds an alarm back (audit F1, fault injection 7/7b/7c).

A separate process floods the gate's command topic with nested JSON and 1 MB junk over MQTT 3.1.1
(the worst case: no Maximum-Packet-Size, so every payload reaches the gate) while a forced_open is
raised: the alarm must reach a subscriber while the flood is still running."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gate.uplink.command_gate import CommandGate
from gate.uplink.command_queue import CommandQueue
from gate.uplink.command_service import CommandService
from gatefixture import SECRET, wait_for
from uplinkfixture import make_uplink, open_journal

FLOODER = r"""
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, seconds = int(sys.argv[1]), float(sys.argv[2])
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
c.connect("127.0.0.1", port)
c.loop_start()
payloads = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    json.dumps({"cmd_id": "junk", "action": "unlock", "pad": "x" * (1024 * 1024 - 60)}).encode(),
    b"x" * (1024 * 1024 + 1),
]
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    c.publish("compound/test-gate/cmd", payloads[n % len(payloads)], qos=0)
    n += 1
    time.sleep(0.02)  # about 50 payloads a second: 2-10 times the audit's rates
c.disconnect()
c.loop_stop()
"""


class AlarmSubscriber:
    """Subscribes to the gate's alarm topic only (not its command topic: that carries the flood)."""

    def __init__(self, port: int):
        self.alarms: list[dict] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alarm-watcher")
        self.client.on_connect = lambda c, *_a: c.subscribe("compound/test-gate/alarm", qos=1)
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.alarms.append(json.loads(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_forced_open_reaches_the_station_during_a_flood_of_junk_commands(broker, tmp_path):
    with open_journal(tmp_path) as journal:
        uplink = make_uplink(journal, broker.port, protocol="3.1.1").start()
        watcher = AlarmSubscriber(broker.port)
        flooder = None
        try:
            assert uplink.session.wait_connected(10)
            flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(broker.port), "60"])
            wait_for(lambda: uplink.commands.handled >= 20, 30, "the flood reaching the gate")
            rec = journal.append("forced_open", {"door": "main"})
            uplink.on_record(rec)
            wait_for(lambda: [a for a in watcher.alarms if a["seq"] == rec.seq], 10, "forced_open at the subscriber")
            handled_at_alarm = uplink.commands.handled
            assert flooder.poll() is None, "the flood must still be running when the alarm arrives"
            wait_for(lambda: uplink.commands.handled > handled_at_alarm + 5, 10, "the flood still being served")
            rejected = {r.fields["reason"] for r in journal.records(record_type="command_rejected")}
            assert rejected == {"malformed", "missing_signature"}  # nothing internal_error, nothing executed
            assert not journal.records(record_type="command")
        finally:
            if flooder is not None:
                flooder.kill()
                flooder.wait(5)
            watcher.close()
            uplink.close()


def test_every_payload_gets_an_answer_or_is_counted_in_a_summary(tmp_path, fake_clock):
    """exp7c: an unpaced burst overruns the queue; the dropped payloads are counted, never silent."""
    answers, records = [], []
    with open_journal(tmp_path) as journal:
        service = CommandService(CommandGate("test-gate", journal, key=SECRET, clock=fake_clock), handlers={},
                                 journal=lambda t, f: records.append((t, f)), answer=answers.append, clock=fake_clock,
                                 queue=CommandQueue(max_items=4, max_bytes=1 << 20))
        for i in range(30):  # the network thread offers faster than the worker serves
            service.queue.offer(json.dumps({"cmd_id": f"b{i}"}).encode(), False)
        service.queue.offer(b"x" * (2 << 20), False)  # a huge one beyond the queue: dropped, counted too
        assert len(service.queue) == 4 and service.queue.held_bytes < 200
        while service.serve():
            pass
        fake_clock.advance(61)
        service.summaries()
    individual = [a for a in answers if a["reason"] == "missing_signature"]
    summary = [a for a in answers if a["reason"] == "overloaded"]
    assert [a["cmd_id"] for a in individual] == ["b0", "b1", "b2", "b3"]
    assert summary == [{"cmd_id": "", "ok": False, "reason": "overloaded", "suppressed": 27, "window_seconds": 10.0,
                        "error": summary[0]["error"]}]
    assert ("command_rejected", {"cmd_id": "", "action": "", "reason": "overloaded", "suppressed": 27,
                                 "window_seconds": 60.0, "detail": records[-1][1]["detail"]}) in records


def test_a_huge_payload_is_answered_without_being_held(tmp_path, fake_clock):
    answers = []
    with open_journal(tmp_path) as journal:
        service = CommandService(CommandGate("test-gate", journal, key=SECRET, clock=fake_clock), handlers={},
                                 journal=lambda t, f: None, answer=answers.append, clock=fake_clock)
        assert service.queue.offer(b"{" * (20 << 20), False)  # queued as its size only
        assert service.queue.held_bytes == 0
        service.serve()
    assert answers == [{"cmd_id": "", "ok": False, "error": "malformed", "reason": "malformed"}]


def test_the_queue_is_bounded_in_bytes():
    queue = CommandQueue(max_items=100, max_bytes=3 << 20)
    big = b"x" * (1 << 20)  # at the size limit: kept
    assert [queue.offer(big, False) for _ in range(4)] == [True, True, True, False]
    assert queue.held_bytes == 3 << 20 and queue.take_dropped() == 1
    queue.take()
    assert queue.held_bytes == 2 << 20 and queue.offer(big, False)
