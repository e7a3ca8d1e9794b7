"""Both lock wirings across a daemon restart: the relay pin's whole history shows no pulse.

Two GateDaemons are built one after the other in this process on the same MockFactory, as
systemd would restart the service on a Pi.
"""
from __future__ import annotations

import pytest

from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon, storage_paths
from gate.store.journal import Journal
from gate.core.events import RemoteCommand

from safetykit import write_config  # noqa: E402  (tests/ is on sys.path via conftest)


def lock_history(factory, cfg):
    return [bool(s.state) for s in factory.pin(cfg.hardware.gpio.lock_pin).states]


def start(cfg, factory, clock):
    daemon = GateDaemon(cfg, clock=clock, pin_factory=factory)
    daemon.start()
    pump(daemon)
    return daemon


def pump(daemon):
    while not daemon.events.empty():
        daemon.controller.process(daemon.events.get_nowait())
    daemon.controller.tick()


@pytest.mark.parametrize("wiring,expected,safe_state", [
    # the unclaimed mock pin reads low; then every level the relay was driven to
    ("fail-secure", [False], "locked"),  # never energised: locked throughout, no pulse
    ("fail-safe", [False, True, False, True, False], "released"),  # held; released while stopped (safe state); held
])
def test_restart_without_relay_pulse(tmp_path, mock_pins, fake_clock, wiring, expected, safe_state):
    cfg = load_config(write_config(tmp_path, wiring=wiring))
    first = start(cfg, mock_pins, fake_clock)
    assert first.controller.snapshot()["lock"] == "locked"
    first.close()
    first.close()  # safe twice
    fake_clock.advance(2.0)
    second = start(cfg, mock_pins, fake_clock)
    assert second.controller.snapshot()["lock"] == "locked"
    fake_clock.advance(10.0)
    pump(second)
    second.close()
    assert lock_history(mock_pins, cfg) == expected
    with Journal(storage_paths(cfg)["journal"], cfg.gate.id) as journal:
        stops = [r.fields["lock"] for r in journal.records(record_type="daemon_stopped")]
        starts = journal.records(record_type="daemon_started")
    assert stops == [safe_state, safe_state] and len(starts) == 2


def test_stop_during_a_grant_leaves_the_strike_locked_and_the_journal_says_so(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path, wiring="fail-secure"))
    daemon = start(cfg, mock_pins, fake_clock)
    daemon.post(RemoteCommand("unlock", {"seconds": 30}, at=fake_clock.monotonic()))
    pump(daemon)
    assert daemon.controller.snapshot()["lock"] == "unlocked"
    daemon.close()
    assert lock_history(mock_pins, cfg) == [False, True, False]
    again = start(cfg, mock_pins, fake_clock)
    try:
        stopped = again.journal.records(record_type="daemon_stopped")
        assert [r.fields["lock"] for r in stopped] == ["locked"]
        assert again.controller.snapshot()["lock"] == "locked"
        assert lock_history(mock_pins, cfg) == [False, True, False]  # the restart moved nothing
    finally:
        again.close()
