"""The guard keypad at the REAL gate: `gatectl run` on a simulated gate (tests/gatefixture.py) whose
keypad is an emulated OSDP peripheral (libosdp PeripheralDevice on a pty, secure channel on with a
random key) or a GPIO matrix keypad on mock pins. Guards are registered with `gatectl guards add`.

Where a test must reach the emulated peripheral itself (what LED/buzzer commands it received, a card
read, noise on the line) the daemon runs in-process (GateDaemon's loop on a thread) instead.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gatefixture import GateProcess, StationClient, wait_for

from firmware_bridge.serial_channel import SerialChannel
from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon, JournalNote

GUARD, PIN, DURESS_PIN = "guard-chen", "246802", "135791"
WRONG_PIN = "111111"
NO_BROKER = 1  # nothing listens there: the gate keeps working without its uplink
WAIT = 10.0  # generous bound for anything that crosses the OSDP line (a healthy link takes < 0.5 s)

OSDP_TOML = """
[keypad]
source = "osdp"
entry_timeout_seconds = 2
max_attempts = 3
lockout_seconds = 30
"""
GPIO_TOML = """
[keypad]
source = "gpio"
"""


def gatectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def add_guard(config: Path, guard: str = GUARD, pin: str = PIN, duress_pin: str | None = DURESS_PIN) -> None:
    """`gatectl guards add` with the PIN (and the duress PIN) on stdin, never on the command line."""
    args = ["guards", "-c", str(config), "add", guard] + (["--duress"] if duress_pin else [])
    done = gatectl(*args, stdin=f"{pin}\n" + (f"{duress_pin}\n" if duress_pin else ""))
    assert done.returncode == 0, done.stderr
    assert pin not in done.stdout + done.stderr


_ONLINE = re.compile(r"OSDP osdp-keypad \(address 101 on .*\) is online")


def keypad_online(gate: GateProcess) -> bool:
    """The panel logs the supervised link coming up (secure channel established)."""
    return bool(_ONLINE.search(gate.log_text()))


def start_osdp_gate(workdir: Path, port: int = NO_BROKER, extra: str = OSDP_TOML) -> GateProcess:
    gate = GateProcess(workdir, port=port, extra_toml=extra)
    add_guard(gate.config)
    gate.start(ready=lambda: gate.sim_ready() and keypad_online(gate))
    return gate


@pytest.fixture
def osdp_gate(tmp_path):
    gate = start_osdp_gate(tmp_path)
    try:
        yield gate
    finally:
        assert gate.stop() == 0


def wait_records(gate: GateProcess, record_type: str, count: int = 1, timeout: float = WAIT) -> list[dict]:
    return wait_for(lambda: len(gate.records_of(record_type)) >= count and gate.records_of(record_type),
                    timeout, f"{count} {record_type} record(s) ({gate.log_path})")


def lock_state(gate: GateProcess) -> str:
    return gate.sim("state")["lock"]


# --- through `gatectl run` -------------------------------------------------------------------------

def test_guard_pin_then_hash_overrides_the_gate(osdp_gate):
    assert lock_state(osdp_gate) == "locked"
    osdp_gate.sim("keys", keys=f"{PIN}#")
    [override] = wait_records(osdp_gate, "override")
    assert override["guard"] == GUARD and override["source"] == "osdp-keypad"
    # the record is committed just before the relay moves and the state is published: wait, bounded
    wait_for(lambda: lock_state(osdp_gate) == "unlocked", 2, "lock released by the override")
    assert osdp_gate.records_of("duress") == []


def test_star_clears_a_typo(osdp_gate):
    osdp_gate.sim("keys", keys=f"99*{PIN}#")
    [override] = wait_records(osdp_gate, "override")
    assert override["guard"] == GUARD
    assert osdp_gate.records_of("override_refused") == []


def test_lockdown_on_and_off_by_keypad_code(osdp_gate):
    osdp_gate.sim("keys", keys=f"#1{PIN}#")
    wait_for(lambda: osdp_gate.sim("state")["mode"] == "lockdown", WAIT, "lockdown on")
    osdp_gate.sim("keys", keys=f"#0{PIN}#")
    wait_for(lambda: osdp_gate.sim("state")["mode"] == "normal", WAIT, "lockdown off")
    assert osdp_gate.records_of("override") == []  # a lockdown code is not an override
    assert osdp_gate.records_of("override_refused") == []


def test_wrong_pins_lock_the_keypad_out_and_the_station_hears_it(tmp_path, broker):
    with StationClient(broker.port) as station:
        gate = start_osdp_gate(tmp_path, port=broker.port)
        try:
            for _ in range(3):  # keypad.max_attempts
                gate.sim("keys", keys=f"{WRONG_PIN}#")
            alarm = wait_for(lambda: [a for a in station.on("alarm") if a["type"] == "keypad_lockout"],
                             WAIT, "keypad_lockout alarm at the station")[0]
            assert alarm["seconds"] == 30 and alarm["gate"] == gate.gate_id
            refused = gate.records_of("override_refused")
            assert [r["attempts"] for r in refused] == [1, 2, 3]
            assert all(WRONG_PIN not in str(r) for r in refused)  # a typed PIN is never journaled
            assert lock_state(gate) == "locked"
        finally:
            assert gate.stop() == 0


def test_a_partial_entry_times_out(osdp_gate):
    osdp_gate.sim("keys", keys=PIN[:4])
    # the daemon says when it dropped the entry (keypad.entry_timeout_seconds = 2)
    wait_for(lambda: "partial entry timed out" in osdp_gate.log_text(), WAIT, "the entry timeout")
    osdp_gate.sim("keys", keys=f"{PIN[4:]}#")  # the rest of the PIN: on its own, too short
    [refused] = wait_records(osdp_gate, "override_refused")
    assert refused["attempts"] == 1
    assert osdp_gate.records_of("override") == []
    assert lock_state(osdp_gate) == "locked"


def test_unplugged_keypad_alarms_within_ten_seconds_and_recovers(osdp_gate):
    osdp_gate.sim("keypad_line", state="unplug")
    [fault] = wait_records(osdp_gate, "device_fault", timeout=10.0)
    assert fault["device"] == "osdp-keypad"
    # Replug only once libosdp itself has given up (its 300 s back-off): the case the daemon once
    # missed, because the panel waited for libosdp to read before it reopened the port.
    wait_for(lambda: "Going offline" in osdp_gate.log_text(), WAIT, "libosdp's own offline verdict")
    osdp_gate.sim("keypad_line", state="replug")
    [back] = wait_records(osdp_gate, "device_recovered")
    assert back["device"] == "osdp-keypad"
    osdp_gate.sim("keys", keys=f"{PIN}#")
    [override] = wait_records(osdp_gate, "override")
    assert override["guard"] == GUARD


def test_the_peripherals_own_tamper_switch_raises_and_clears_a_tamper_alarm(osdp_gate):
    osdp_gate.sim("keypad_line", state="tamper-on")
    [tamper] = wait_records(osdp_gate, "tamper")
    assert tamper["device"] == "osdp-keypad"
    osdp_gate.sim("keypad_line", state="tamper-off")
    cleared = wait_records(osdp_gate, "alarm_cleared")
    assert cleared[-1]["alarm"] == "tamper" and cleared[-1]["device"] == "osdp-keypad"


def test_gpio_keypad_overrides_through_the_mock_pins(tmp_path):
    gate = GateProcess(tmp_path, port=NO_BROKER, extra_toml=GPIO_TOML)
    add_guard(gate.config)
    with gate:
        gate.start()
        gate.sim("keys", keys=f"{PIN}#")
        [override] = wait_records(gate, "override")
        assert override["guard"] == GUARD and override["source"] == "gpio-keypad"
        wait_for(lambda: lock_state(gate) == "unlocked", 2, "lock released by the override")


# --- in-process: the emulated peripheral itself --------------------------------------------------

class InProcessGate:
    """A GateDaemon on this process's threads, with the config GateProcess writes."""

    def __init__(self, workdir: Path, port: int):
        self.files = GateProcess(workdir, port=port, extra_toml=OSDP_TOML)  # writes config and secret
        self.config = self.files.config
        self.daemon: GateDaemon | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    def start(self) -> "InProcessGate":
        self.daemon = GateDaemon(load_config(self.config))
        self.daemon.start()
        self._loop = threading.Thread(target=self.daemon.run, args=(self._stop,), name="gate-main-loop")
        self._loop.start()
        wait_for(lambda: self.daemon.hardware.osdp_panel.is_online, WAIT, "the OSDP keypad online")
        return self

    def close(self) -> None:
        self._stop.set()
        if self.daemon is not None:
            self.daemon.request_stop()
            if self._loop is not None:
                self._loop.join(10)
            self.daemon.close()

    @property
    def pd(self):
        """The emulated OSDP peripheral (EmulatedOsdpKeypad)."""
        return self.daemon.hardware.simulator.keypad

    def records_of(self, record_type: str) -> list[dict]:
        return self.files.records_of(record_type)

    def wait_records(self, record_type: str, count: int = 1) -> list[dict]:
        return wait_records(self.files, record_type, count)

    def lock(self) -> str:
        return self.daemon.controller.snapshot()["lock"]


@pytest.fixture
def inproc_gate(tmp_path, broker):
    gate = InProcessGate(tmp_path, broker.port)
    add_guard(gate.config)
    try:
        yield gate.start()
    finally:
        gate.close()


def _feedback_after(gate: InProcessGate, keys: str, record_type: str, count: int) -> tuple[list[dict], str]:
    """Type `keys`; once the `count`-th record of `record_type` is journaled and the peripheral got
    its LED and buzzer command, return those commands and the gate's own indicator pattern."""
    gate.pd.clear_feedback()
    gate.pd.press_keys(keys)
    gate.wait_records(record_type, count)
    assert gate.pd.wait_for_feedback(2, WAIT), "no LED/buzzer command reached the peripheral"
    return gate.pd.feedback, gate.daemon.hardware.indicators.last_pattern


def test_duress_opens_like_an_override_and_only_the_station_knows(inproc_gate, broker):
    gate = inproc_gate
    with StationClient(broker.port) as station:
        normal = _feedback_after(gate, f"{PIN}#", "override", 1)
        assert gate.lock() == "unlocked"
        under_duress = _feedback_after(gate, f"{DURESS_PIN}#", "override", 2)
        assert gate.lock() == "unlocked"
        alarm = wait_for(lambda: [a for a in station.on("alarm") if a["type"] == "duress"],
                         WAIT, "duress alarm at the station")[0]
    assert alarm["guard"] == GUARD
    # What anyone at the gate can see or hear is the same: the peripheral's LED/buzzer commands,
    # the gate's own indicator pattern, and the journaled override itself.
    assert normal[1] == under_duress[1] == "granted"
    assert gate.pd.last_pattern == "granted"
    assert normal[0] == under_duress[0]
    first, second = gate.records_of("override")
    strip = ("id", "seq", "ts")
    assert {k: v for k, v in first.items() if k not in strip} == {k: v for k, v in second.items() if k not in strip}


def test_osdp_card_read_is_a_tap_at_the_osdp_reader(inproc_gate):
    gate = inproc_gate
    done = gatectl("passes", "-c", str(gate.config), "add", "04A1B2C3", "--name", "Wang Li")
    assert done.returncode == 0, done.stderr
    gate.daemon.hardware.simulator.temp("36.6")  # screening needs somebody in front of the thermometer
    gate.pd.present_card("04:a1:b2:c3")
    [granted] = gate.wait_records("access_granted")
    assert granted["card"] == "04A1B2C3" and granted["reader"] == "osdp-keypad"
    assert gate.lock() == "unlocked"
    assert gate.pd.wait_for_pattern("granted", WAIT)


def test_noise_on_the_line_then_keys_still_arrive(inproc_gate):
    gate = inproc_gate
    torn_frame = bytes([0x53, 0xE5, 0x40, 0x00, 0x0C])  # SOM, reply address, length 64: never completed
    for chunk in (bytes(range(256)), b"\xff\x00" * 20, torn_frame):
        gate.pd.inject_noise(chunk)
    gate.pd.press_keys(f"{PIN}#")
    [override] = gate.wait_records("override")
    assert override["guard"] == GUARD
    assert gate.daemon.hardware.osdp_panel.is_secure


def test_the_right_pin_is_ignored_during_a_lockout(inproc_gate):
    gate = inproc_gate
    sink = gate.daemon.hardware.keypad_sink
    delivered: list[str] = []
    arrived = threading.Condition()
    forward = sink.on_key

    def counting(key: str, source: str) -> None:
        forward(key, source)  # queued for the main loop first, then counted
        with arrived:
            delivered.append(key)
            arrived.notify_all()

    sink.on_key = counting
    gate.pd.press_keys(f"{WRONG_PIN}#" * 3)
    [lockout] = gate.wait_records("keypad_lockout")
    assert lockout["seconds"] == 30
    gate.pd.press_keys(f"{PIN}#")
    with arrived:
        assert arrived.wait_for(lambda: len(delivered) == 4 * 7, WAIT)
    # Every key is on the main loop's queue: a note posted now is journaled after all of them.
    gate.daemon.post(JournalNote("test_barrier", {}))
    gate.wait_records("test_barrier")
    assert gate.records_of("override") == []
    assert gate.lock() == "locked"


# --- the regression behind the replug fix, at unit level ------------------------------------------

def test_a_replugged_port_reopens_without_waiting_for_libosdp_to_read(tmp_path):
    """libosdp stops reading during its 300 s back-off, so the panel's supervisor reopens the port."""
    now = [0.0]
    link = tmp_path / "ttyOSDP"
    with SerialChannel(str(link), reopen_interval_s=1.0, monotonic=lambda: now[0]) as ch:
        assert ch.reopen_if_due() is False  # nothing plugged in
        master, slave = os.openpty()
        try:
            os.symlink(os.ttyname(slave), link)
            assert ch.reopen_if_due() is False  # not before the reopen interval
            now[0] = 1.0
            assert ch.reopen_if_due() is True and ch.is_open
            assert ch.reopen_if_due() is True  # already open: nothing to do
        finally:
            os.close(master)
            os.close(slave)
