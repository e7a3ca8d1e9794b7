"""Huge payloads on P/G/cmd never grow the gate's memory without bound (audit F9, r11).

A separate process publishes 40 nested payloads and 40 x 20 MB payloads to a running `gatectl run`
daemon. With MQTT 5 the gate announces a Maximum-Packet-Size and the broker never sends it the big
ones (its peak RSS, VmHWM from /proc, stays within +100 MB; measured: +0). With 3.1.1 paho reads each
one whole before the gate sees it (a recv buffer, the packet and the payload: about 4 copies of one
packet at once, measured +97 MB), and the gate keeps only its size: the peak depends on the largest
packet, never on how many arrive (bound +150 MB). docs/uplink.md: set the broker's max_packet_size."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gatefixture import GateProcess, StationClient, wait_for

ATTACKER = r"""
import sys, paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
a = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="attacker")
a.connect("127.0.0.1", int(sys.argv[1]))
a.loop_start()
nested, big = b"[" * 3000 + b"]" * 3000, b"x" * (20 * 1024 * 1024)
for _ in range(40):
    a.publish("compound/test-gate/cmd", nested, qos=1).wait_for_publish(30)
    a.publish("compound/test-gate/cmd", big, qos=1).wait_for_publish(30)
a.disconnect()
a.loop_stop()
"""


class ResultsOnly(StationClient):
    """A station client that does not subscribe to the command topic (it carries the junk)."""

    def _on_connect(self, client, _u, _f, rc, _p=None):
        if not rc.is_failure:
            client.subscribe([(f"{self.base}/status", 1), (f"{self.base}/cmd/result", 1)])


def _kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize("protocol, bound_mb", [("5", 100), ("3.1.1", 150)])
def test_forty_20_mb_payloads_do_not_grow_the_daemon(broker, tmp_path, protocol, bound_mb):
    with ResultsOnly(broker.port) as station:
        gate = GateProcess(tmp_path, port=broker.port)
        text = gate.config.read_text()
        gate.config.write_text(text.replace("keepalive_seconds", f'protocol = "{protocol}"\nkeepalive_seconds', 1))
        gate.start()
        try:
            wait_for(lambda: station.on("status"), 15, "gate online")
            before = _kib(gate.pid, "VmRSS")
            subprocess.run([sys.executable, "-c", ATTACKER, str(broker.port)], check=True, timeout=120)
            # Commands are served in order: once this one is answered, every payload before it was handled.
            probe = station.command("lockdown", on=False)
            station.send(probe)
            assert station.wait_result(probe["cmd_id"], timeout=60)["ok"] is True
            peak = _kib(gate.pid, "VmHWM")
            print(f"MQTT {protocol}: RSS before {before / 1024:.0f} MB, peak {peak / 1024:.0f} MB")
            assert peak - before < bound_mb * 1024
        finally:
            gate.stop()
