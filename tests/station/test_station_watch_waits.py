"""`gatectl station watch` started before its broker waits for it (with backoff) instead of exiting,
then shows the records once the broker is there; SIGTERM while waiting exits 0."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import uuid

from broker import MosquittoBroker, free_port
from fakegate import PREFIX, FakeGate
from gatefixture import wait_for

from gate.uplink import signing


def _station(tmp_path, port: int):
    secret = tmp_path / "north.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    conf = tmp_path / "station.toml"
    conf.write_text(f'[station]\nstore = "station.db"\n[mqtt]\nport = {port}\ntopic_prefix = "{PREFIX}"\n'
                    '[gates.north]\nsecret_file = "north.secret"\n')
    return conf, signing.load_secret(secret)


def _watch(conf):
    proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(conf), "watch", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = queue.Queue(), queue.Queue()
    threading.Thread(target=lambda: [out.put(line) for line in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [err.put(line) for line in proc.stderr], daemon=True).start()
    return proc, out, err


def test_watch_waits_for_a_missing_broker_then_shows_records(tmp_path):
    port = free_port()
    conf, key = _station(tmp_path, port)
    proc, out, err = _watch(conf)
    broker = gate = None
    try:
        line = err.get(timeout=20)                          # the first failed try, said on stderr
        assert "retrying in" in line and str(port) in line, line
        assert proc.poll() is None                          # still running: waiting, not gone
        broker = MosquittoBroker(port).start()
        gate = FakeGate(port, "north", key)
        wait_for(lambda: gate.commands, 40, "watch connected and probed the gate")
        alarm = gate.emit("forced_open")
        records = [json.loads(out.get(timeout=15))]
        assert records[0]["seq"] == alarm["seq"] and records[0]["type"] == "forced_open"
    finally:
        if gate is not None:
            gate.close()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        if broker is not None:
            broker.close()
    assert rc == 0


def test_sigterm_while_waiting_for_the_broker_exits_0(tmp_path):
    conf, _ = _station(tmp_path, free_port())
    proc, _, err = _watch(conf)
    assert "retrying in" in err.get(timeout=20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
