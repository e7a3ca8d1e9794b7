"""The real daemon (`gatectl run` subprocess) with its uplink: SIGKILLs while publishing lose nothing;
a signed unlock from the station releases the lock."""
from __future__ import annotations

import random
import threading

from gatefixture import GateProcess, StationClient, wait_for


def _burst(gate: GateProcess, n: int) -> None:
    """Toggle the tamper input `n` times (2 records each); stops quietly once the daemon is gone."""
    try:
        for _ in range(n):
            gate.sim("tamper", on="on")
            gate.sim("tamper", on="off")
    except Exception:
        pass


def test_sigkill_while_publishing_loses_no_committed_record(broker, tmp_path):
    rng = random.Random(5)
    with StationClient(broker.port) as station:
        gate = GateProcess(tmp_path, port=broker.port)
        for round_no in range(5):
            gate.start()
            burster = threading.Thread(target=_burst, args=(gate, 40))
            burster.start()
            wait_for(lambda: gate.last_seq() > 10 + round_no * 20, 10, "records being committed")
            threading.Event().wait(rng.uniform(0.0, 0.1))  # a random point in the burst
            gate.kill()
            burster.join(10)
            if round_no == 0:  # the broker publishes the last will at once for a killed gate
                wait_for(lambda: {k: v for k, v in station.on("status")[-1].items() if k != "mac"}
                         == {"online": False, "gate": "test-gate"}, 10, "last will")
        committed_before_final = gate.last_seq()
        with gate.start():
            wait_for(lambda: station.has_seqs(1, committed_before_final), 20, "every committed record")
            assert station.on("status")[-1]["online"] is True
        assert station.has_seqs(1, gate.last_seq())  # the clean stop flushed daemon_stopped too
        assert max(station.seqs()) == gate.last_seq()
        assert station.on("status")[-1]["online"] is False
        types = {r["type"] for r in station.records()}
        assert {"tamper", "daemon_started"} <= types


def test_signed_unlock_releases_the_lock_within_two_seconds(broker, tmp_path):
    with StationClient(broker.port) as station, GateProcess(tmp_path, port=broker.port) as gate:
        gate.start(ready=lambda: gate.sim_ready() and station.on("status"))
        assert gate.sim("state")["lock"] == "locked"
        cmd = station.command("unlock", seconds=5)
        station.send(cmd)
        wait_for(lambda: gate.sim("state")["lock"] == "unlocked", 2.0, "the lock to release")
        assert station.wait_result(cmd["cmd_id"])["ok"] is True
        wait_for(lambda: gate.records_of("command"), 5, "command journaled")
        assert gate.records_of("command")[0]["cmd_id"] == cmd["cmd_id"]
        forged = station.command("unlock", key=b"wrong")
        station.send(forged)
        assert station.wait_result(forged["cmd_id"])["reason"] == "bad_signature"
        assert gate.records_of("command_rejected")[0]["reason"] == "bad_signature"
