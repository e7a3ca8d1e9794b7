"""Door safety through the whole daemon: gpiozero mock pins in, journal and relay pin out, on a fake clock.

The daemon's main loop is replaced by `Rig.run_for`, which does what `GateDaemon.run` does (process
queued events, then tick) in 50 ms steps of the fake clock, so every timing is deterministic.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gate.clock import FakeClock, SystemClock
from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon
from gate.core.events import RemoteCommand
from safetykit import write_config  # noqa: E402

STEP = 0.05




class Rig:
    """One in-process daemon on mock pins and a fake clock."""

    def __init__(self, conf: Path, factory, clock: FakeClock):
        self.clock = clock
        self.cfg = load_config(conf)
        self.daemon = GateDaemon(self.cfg, clock=clock, pin_factory=factory)
        self.daemon.start()
        self.sim = self.daemon.hardware.simulator
        self.signals: list[tuple[float, str]] = []
        self.daemon.controller.signal_sinks.append(lambda p: self.signals.append((clock.monotonic(), p)))
        self.lock_pin = factory.pin(self.cfg.hardware.gpio.lock_pin)
        self.pump()

    def pump(self) -> None:
        """One pass of the daemon loop: every queued event, then a tick."""
        while not self.daemon.events.empty():
            self.daemon.controller.process(self.daemon.events.get_nowait())
        self.daemon.controller.tick()

    def run_for(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.clock.advance(STEP)
            self.pump()

    def records(self, record_type: str | None = None):
        return self.daemon.journal.records(record_type=record_type)

    def state(self) -> dict:
        return self.sim.state()

    def close(self) -> None:
        self.daemon.close()


@pytest.fixture
def rig(tmp_path, mock_pins, fake_clock):
    r = Rig(write_config(tmp_path), mock_pins, fake_clock)
    try:
        yield r
    finally:
        r.close()


def test_bounce_is_ignored_and_a_real_forced_opening_alarms_within_a_second(rig):
    rig.sim.door("open")
    rig.clock.advance(0.1)  # contact bounce: 100 ms < debounce_ms
    rig.sim.door("close")
    rig.run_for(3.0)
    assert rig.records("forced_open") == [] and rig.records("door_opened") == []
    opened_at = rig.clock.monotonic()
    rig.sim.door("open")
    for _ in range(20):  # one second at most
        rig.run_for(STEP)
        if rig.records("forced_open"):
            break
    assert rig.records("forced_open"), "no forced_open within 1 s of a real opening"
    assert rig.clock.monotonic() - opened_at <= 1.0
    assert (rig.clock.monotonic(), "alarm") in rig.signals
    alarms = rig.state()["active_alarms"]
    assert [a["type"] for a in alarms] == ["forced_open"] and alarms[0]["seq"] == rig.records("forced_open")[0].seq


def test_held_open_prealarm_and_alarm_on_time_then_cleared(rig):
    rig.sim.exit()
    rig.pump()
    rig.sim.door("open")
    opened = rig.clock.monotonic()
    rig.run_for(41.0)
    prealarms = [t - opened for t, p in rig.signals if p == "prealarm"]
    assert prealarms == [pytest.approx(20.0, abs=0.5)]  # held_open_seconds 30 - prealarm_seconds 10
    (held,) = rig.records("held_open")
    alarm_at = [t - opened for t, p in rig.signals if p == "alarm"]
    assert alarm_at == [pytest.approx(30.0, abs=0.5)]
    assert rig.records("forced_open") == []
    rig.sim.door("close")
    rig.run_for(0.5)
    (cleared,) = rig.records("alarm_cleared")
    assert cleared.fields["alarm"] == "held_open" and cleared.fields["alarm_seq"] == held.seq


def test_unused_grant_relocks_with_an_event(rig):
    rig.daemon.post(RemoteCommand("unlock", {}, at=rig.clock.monotonic()))
    rig.pump()
    assert rig.state()["lock"] == "unlocked" and rig.lock_pin.state == 1  # fail-secure: energise to release
    rig.run_for(4.9)
    assert rig.state()["lock"] == "unlocked"
    rig.run_for(0.2)
    (relocked,) = rig.records("relocked")
    assert relocked.fields == {"cause": "grant_unused", "grant": "remote"}
    assert rig.state()["lock"] == "locked" and rig.lock_pin.state == 0


def test_relock_as_soon_as_the_door_closes(rig):
    rig.sim.exit()
    rig.run_for(0.5)
    rig.sim.door("open")
    rig.run_for(1.0)
    rig.sim.door("close")
    rig.run_for(0.2)
    (relocked,) = rig.records("relocked")
    assert relocked.fields["cause"] == "door_closed"
    assert rig.state()["lock"] == "locked" and rig.lock_pin.state == 0
    assert rig.records("forced_open") == []


def test_fire_release_overrides_lockdown(rig):
    rig.daemon.post(RemoteCommand("lockdown", {"on": True}, at=rig.clock.monotonic()))
    rig.pump()
    assert rig.state()["mode"] == "lockdown"
    rig.sim.fire("on")
    rig.run_for(0.1)
    assert rig.state()["mode"] == "fire" and rig.state()["lock"] == "unlocked" and rig.lock_pin.state == 1
    rig.sim.door("open")
    rig.run_for(60.0)  # evacuation: no forced, no held, still unlocked
    assert rig.records("forced_open") == [] and rig.records("held_open") == []
    assert rig.state()["lock"] == "unlocked"
    rig.sim.fire("off")
    rig.run_for(0.1)
    assert rig.state()["mode"] == "lockdown" and rig.state()["lock"] == "locked"
    (cleared,) = rig.records("alarm_cleared")
    assert cleared.fields["alarm"] == "fire_release"
    assert len(rig.records("fire_release")) == 1


def test_tamper_alarm_and_clearing_event(rig):
    rig.sim.tamper("on")
    rig.run_for(0.1)
    (tamper,) = rig.records("tamper")
    assert tamper.fields["device"] == "enclosure"
    rig.sim.tamper("off")
    rig.run_for(0.1)
    (cleared,) = rig.records("alarm_cleared")
    assert (cleared.fields["alarm"], cleared.fields["alarm_seq"]) == ("tamper", tamper.seq)
    assert [a["cleared"] for a in rig.state()["active_alarms"]] == [True]
    rig.daemon.post(RemoteCommand("ack", {"seq": tamper.seq}, at=rig.clock.monotonic()))
    rig.pump()
    assert rig.state()["active_alarms"] == [] and len(rig.records("alarm_acknowledged")) == 1


@pytest.mark.parametrize("jump", [timedelta(hours=2), timedelta(hours=-2)])
def test_wall_clock_jump_never_moves_the_held_open_timer(rig, jump):
    rig.sim.exit()
    rig.pump()
    rig.sim.door("open")
    opened = rig.clock.monotonic()
    rig.run_for(15.0)
    rig.clock.jump_wall(jump)  # NTP correction mid-timer
    rig.run_for(16.0)
    assert [t - opened for t, p in rig.signals if p == "prealarm"] == [pytest.approx(20.0, abs=0.5)]
    assert [t - opened for t, p in rig.signals if p == "alarm"] == [pytest.approx(30.0, abs=0.5)]
    assert len(rig.records("held_open")) == 1


def test_gatectl_sim_door_open_on_an_idle_gate_journals_forced_open(tmp_path):
    """End to end: a real-time daemon in a thread, the `gatectl sim` command in a subprocess."""
    conf = write_config(tmp_path)
    daemon = GateDaemon(load_config(conf), clock=SystemClock())
    stop = threading.Event()
    daemon.start()
    loop = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    loop.start()
    try:
        done = subprocess.run([sys.executable, "-m", "gate.cli", "sim", "-c", str(conf), "door", "open"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 5.0
        while not daemon.journal.records(record_type="forced_open") and time.monotonic() < deadline:
            stop.wait(0.05)
        assert daemon.journal.records(record_type="forced_open")
        assert daemon.controller.snapshot()["door"] == "open"
    finally:
        stop.set()
        daemon.request_stop()
        loop.join(timeout=5)
        daemon.close()


def test_unacknowledged_momentary_alarms_stay_bounded():
    from gate.core.actions import Record as R
    from gate.core.alarms import MAX_ACTIVE, AlarmBook

    book = AlarmBook()
    book.raised(R("tamper", {"device": "enclosure"}), 0.0)  # a condition still present
    for i in range(MAX_ACTIVE * 3):
        book.raised(R("fever", {"card": f"{i:08X}", "temperature_c": 38.0}), float(i))
    active = book.active()
    assert len(active) == MAX_ACTIVE
    assert active[0].type == "tamper"                      # never dropped while present
    assert active[-1].fields["card"] == f"{MAX_ACTIVE * 3 - 1:08X}"   # the newest kept
