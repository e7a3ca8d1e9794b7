"""Through the running daemon and a real broker: a quarantine set by a signed station command refuses
an exit with a quarantine_exit alarm at the station; a faulty thermometer raises device_fault and
never lets a tap through as a normal temperature."""
from __future__ import annotations

import subprocess
import sys

from gatefixture import GateProcess, StationClient, wait_for


def gatectl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True, timeout=60)


def test_quarantine_command_refuses_the_exit_and_alarms_the_station(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port, extra_toml=(
        "[screening]\nmode = \"off\"\n[hardware.thermometer]\nenabled = false\n"
        "[hardware.rfid]\nrole = \"exit\"\n"))
    with gate.start(), StationClient(broker.port) as station:
        cfg = str(gate.config)
        assert gatectl("passes", "-c", cfg, "add", "DEADBEEF", "--name", "Wang Li", "--household", "3-201").returncode == 0
        cmd_id = station.send(station.command("quarantine", household="3-201", days=14))
        result = station.wait_result(cmd_id)
        assert result["ok"] is True, result
        gate.sim("tap", uid="DEADBEEF")
        alarm = wait_for(lambda: [a for a in station.on("alarm") if a["type"] == "quarantine_exit"], 10,
                         "quarantine_exit at the station")[0]
        assert alarm["card"] == "DEADBEEF" and alarm["household"] == "3-201"
        refusal = wait_for(lambda: [e for e in station.on("event") if e["type"] == "access_refused"], 10,
                           "refusal at the station")[0]
        assert refusal["reason"] == "quarantine" and refusal["direction"] == "exit"
        assert gate.sim("state")["lock"] == "locked"

        bad = station.send(station.command("quarantine", household="3-201"))  # neither until, days nor lift
        answer = station.wait_result(bad)
        assert answer["ok"] is False and "until" in answer["error"]


def test_thermometer_fault_raises_device_fault_and_refuses_taps(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[hardware.simulation]\nthermometer = \"nack\"\n")
    with gate.start(), StationClient(broker.port) as station:
        fault = wait_for(lambda: [r for r in gate.records_of("device_fault") if r["device"] == "thermometer"], 10,
                         "thermometer device_fault")[0]
        assert "thermometer" in fault["detail"].lower() or "0x5a" in fault["detail"].lower()
        assert gatectl("passes", "-c", str(gate.config), "add", "DEADBEEF", "--name", "Wang Li").returncode == 0
        gate.sim("temp", value="36.6")
        gate.sim("tap", uid="DEADBEEF")
        refusal = wait_for(lambda: gate.records_of("access_refused"), 10, "refusal")[0]
        assert refusal["reason"] == "screening_unavailable"
        assert not gate.records_of("access_granted")
        assert gate.sim("state")["lock"] == "locked"
        # The station learns of it from the retained status too (the alarm may predate its subscription).
        status = wait_for(lambda: [s for s in station.on("status") if "thermometer" in
                                   s.get("health", {}).get("faulty_devices", {})], 10, "fault in the status")[-1]
        assert status["online"] is True and status["health"]["ok"] is False
