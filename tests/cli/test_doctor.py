"""`gatectl doctor` on the simulated gate: all green when healthy, the broken part named when not."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_bridge.pd_emulator import open_emulated_keypad
from gate.cli.doctor import format_table, main, run_checks
from gate.cli.doctor_checks import probe_osdp
from gate.runtime.simcontrol import send_sim

from daemonkit import NotifyListener, start_gate, stop_gate


def write_config(folder: Path, port: int, *, rfid_chip: str = "present", thermometer: str = "ok",
                 mqtt_enabled: bool = True) -> Path:
    secret = folder / "command.secret"
    if not secret.exists():
        secret.write_text("doctor-secret\n")
        secret.chmod(0o600)
    (folder / "state").mkdir(exist_ok=True)
    path = folder / "gate.toml"
    path.write_text(f"""
[gate]
id = "doctor-gate"
[storage]
dir = "state"
[hardware]
mode = "simulated"
[hardware.simulation]
rfid_chip = "{rfid_chip}"
thermometer = "{thermometer}"
[mqtt]
enabled = {str(mqtt_enabled).lower()}
host = "127.0.0.1"
port = {port}
command_secret_file = "command.secret"
""")
    return path


def by_check(results) -> dict:
    return {r.check: r for r in results}


def test_healthy_simulated_gate_passes(tmp_path, broker, capsys):
    config = write_config(tmp_path, broker.port)
    assert main(["-c", str(config), "--actuate"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out
    rows = by_check(run_checks(str(config), actuate=True))
    for name in ("config", "storage", "secret files", "gpio pins", "inputs idle", "lock relay",
                 "rfid reader", "thermometer", "mqtt broker"):
        assert rows[name].result == "PASS", rows[name]
    assert "VersionReg 0x92" in rows["rfid reader"].detail
    assert "PEC valid" in rows["thermometer"].detail
    assert rows["osdp peripheral"].result == "SKIP"


def test_relay_is_not_clicked_without_actuate(tmp_path, broker):
    rows = by_check(run_checks(str(write_config(tmp_path, broker.port))))
    assert rows["lock relay"].result == "SKIP" and "--actuate" in rows["lock relay"].hint


def test_missing_reader_chip_is_named_with_a_wiring_hint(tmp_path, broker, capsys):
    config = write_config(tmp_path, broker.port, rfid_chip="absent")
    assert main(["-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert "1 failed: rfid reader" in out
    rows = by_check(run_checks(str(config)))
    assert rows["rfid reader"].result == "FAIL"
    assert "0x00" in rows["rfid reader"].detail and "MISO" in rows["rfid reader"].hint
    assert rows["thermometer"].result == "PASS" and rows["mqtt broker"].result == "PASS"


@pytest.mark.parametrize("fault, words", [("nack", ("NACK", "i2cdetect")),
                                          ("corrupt_pec", ("PEC mismatch", "pull-ups")),
                                          ("error_flag", ("error flag", "power-cycle"))])
def test_thermometer_faults_are_named(tmp_path, broker, fault, words):
    rows = by_check(run_checks(str(write_config(tmp_path, broker.port, thermometer=fault))))
    thermo = rows["thermometer"]
    assert thermo.result == "FAIL"
    assert words[0] in thermo.detail and words[1] in thermo.hint
    assert [r.check for r in rows.values() if r.result == "FAIL"] == ["thermometer"]


def test_stuck_thermometer_is_a_warning(tmp_path, broker):
    rows = by_check(run_checks(str(write_config(tmp_path, broker.port, thermometer="stuck"))))
    assert rows["thermometer"].result == "WARN" and "identical" in rows["thermometer"].detail


def test_broker_down_is_named(tmp_path, broker, capsys):
    config = write_config(tmp_path, broker.port)
    broker.kill()
    assert main(["-c", str(config), "--json", "--broker-timeout", "2"]) == 1
    rows = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mqtt broker"]["result"] == "FAIL"
    assert f"127.0.0.1:{broker.port}" in rows["mqtt broker"]["detail"]
    assert [c for c, r in rows.items() if r["result"] == "FAIL"] == ["mqtt broker"]
    assert set(rows["config"]) == {"check", "result", "detail", "hint"}


def test_readable_secret_and_bad_config_fail(tmp_path):
    config = write_config(tmp_path, 1, mqtt_enabled=False)
    (tmp_path / "command.secret").chmod(0o644)
    rows = by_check(run_checks(str(config)))
    assert rows["secret files"].result == "FAIL"
    assert "0644" in rows["secret files"].detail and "chmod 600" in rows["secret files"].hint
    assert rows["mqtt broker"].result == "SKIP"

    config.write_text(config.read_text().replace('thermometer = "ok"', 'thermometer = "melted"'))
    results = run_checks(str(config))
    assert [(r.check, r.result) for r in results] == [("config", "FAIL")]
    assert "hardware.simulation.thermometer" in results[0].detail
    assert "gatectl check-config" in format_table(results)


def test_a_missing_secret_gets_the_command_that_makes_it(tmp_path):
    # new-user audit B9: the hint was `gatectl check-config`, which repeats the same error
    config = write_config(tmp_path, 1, mqtt_enabled=False)
    config.write_text(config.read_text().replace("enabled = false", "enabled = true"))
    (tmp_path / "command.secret").unlink()
    results = run_checks(str(config))
    assert [(r.check, r.result) for r in results] == [("config", "FAIL")]
    assert results[0].hint == f"gatectl secret {tmp_path / 'command.secret'}"


def test_doctor_does_not_disturb_a_running_simulated_daemon(tmp_path, broker):
    config = write_config(tmp_path, broker.port, mqtt_enabled=False)
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_gate(config, listener, watchdog_usec=5_000_000)
    try:
        listener.wait_for("READY")
        rows = by_check(run_checks(str(config), actuate=True))
        assert rows["rfid reader"].result == "PASS" and rows["lock relay"].result == "PASS"
        # The daemon's own emulated hardware is untouched: its lock stayed locked, it still answers.
        state = send_sim(tmp_path / "state", "state", {})
        assert state["lock"] == "locked" and state["door"] == "closed"
        assert proc.poll() is None
    finally:
        rc, out = stop_gate(proc)
        listener.close()
    assert rc == 0, out


def test_osdp_probe_sees_the_peripheral_online_and_secure():
    key = bytes(range(16))
    emulator, port = open_emulated_keypad(scbk=key)
    try:
        row = probe_osdp(port, scbk=key, timeout=5)
    finally:
        emulator.close()
    assert row.result == "PASS" and "secure channel up" in row.detail


def test_osdp_probe_names_a_missing_or_silent_port(tmp_path):
    row = probe_osdp(str(tmp_path / "ttyUSB9"), timeout=1)
    assert row.result == "FAIL" and "does not exist" in row.detail and "by-id" in row.hint
    emulator, port = open_emulated_keypad(pd_address=5)
    try:
        row = probe_osdp(port, pd_address=101, timeout=1)  # nobody answers at address 101
    finally:
        emulator.close()
    assert row.result == "FAIL" and "no answer" in row.detail and "PD address" in row.hint


def test_simulated_osdp_keypad_is_probed(tmp_path, broker):
    config = write_config(tmp_path, broker.port)
    config.write_text(config.read_text() + '\n[keypad]\nsource = "osdp"\n')
    row = by_check(run_checks(str(config)))["osdp peripheral"]
    assert row.result == "PASS", row
    assert "secure channel up" in row.detail
