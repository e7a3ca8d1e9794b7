"""Fault-injection 8 through the daemon: the simulated door contact (mock pins) flutters 100 ms open /
20 ms closed for 6 s; the daemon's injected clock stamps every edge, so the run is deterministic."""
from __future__ import annotations

from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon, storage_paths
from gate.store.journal import Journal

from safetykit import write_config


def pump(daemon):
    while not daemon.events.empty():
        daemon.controller.process(daemon.events.get_nowait())
    daemon.controller.tick()


def test_a_fluttering_contact_is_a_forced_opening_and_a_contact_fault(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path))
    daemon = GateDaemon(cfg, clock=fake_clock, pin_factory=mock_pins)
    daemon.start()
    try:
        pump(daemon)
        sim = daemon.hardware.simulator
        for _ in range(50):  # 6 s
            sim.door("open")
            pump(daemon)
            for _ in range(10):  # the loop ticks at its deadlines while the contact stays put
                fake_clock.advance(0.01)
                pump(daemon)
            sim.door("close")
            pump(daemon)
            fake_clock.advance(0.02)
            pump(daemon)
        snapshot = daemon.controller.snapshot()
        assert snapshot["door"] == "open"
        assert {a["type"] for a in snapshot["active_alarms"]} >= {"forced_open", "door_contact_fault"}
        fake_clock.advance(1.0)
        pump(daemon)
        assert daemon.controller.snapshot()["door"] == "closed"
    finally:
        daemon.close()
    with Journal(storage_paths(cfg)["journal"], cfg.gate.id) as journal:
        types = [r.type for r in journal.records()]
    assert types.count("forced_open") == 1 and types.count("door_contact_fault") == 1
    cleared = [r.fields["alarm"] for r in journal_records(cfg, "alarm_cleared")]
    assert sorted(cleared) == ["door_contact_fault", "forced_open"]


def journal_records(cfg, record_type):
    with Journal(storage_paths(cfg)["journal"], cfg.gate.id) as journal:
        return journal.records(record_type=record_type)
