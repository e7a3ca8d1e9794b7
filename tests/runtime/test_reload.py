"""Config reload: SIGHUP to a running `gatectl run`, and GateDaemon.reload on a simulated gate."""
from __future__ import annotations

import dataclasses
import signal
import threading

import pytest

from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon
from gate.runtime.reload import changed_keys
from gate.runtime.simcontrol import send_sim

from gatefixture import wait_for
from daemonkit import NotifyListener, start_gate, stop_gate, write_sim_config


@pytest.fixture
def running_gate(tmp_path, fake_clock):
    """A simulated GateDaemon on a fake clock, its main loop on a thread."""
    cfg = load_config(write_sim_config(tmp_path))
    daemon = GateDaemon(cfg, clock=fake_clock)
    daemon.start()
    stop = threading.Event()
    loop = threading.Thread(target=daemon.run, args=(stop,), name="gate-main-loop")
    loop.start()
    try:
        yield daemon
    finally:
        stop.set()
        daemon.request_stop()
        loop.join(10)
        daemon.close()


def test_changed_keys_names_every_leaf(tmp_path):
    old = load_config(write_sim_config(tmp_path))
    new = dataclasses.replace(old, gate=dataclasses.replace(old.gate, id="other"),
                              door=dataclasses.replace(old.door, held_open_seconds=60))
    assert changed_keys(old, new) == ["door.held_open_seconds", "gate.id"]
    assert changed_keys(old, old) == []


def test_a_broken_config_is_refused_and_the_old_one_stays(running_gate, tmp_path):
    old = running_gate.cfg
    bad = tmp_path / "bad.toml"
    bad.write_text('[lock]\nunlock_seconds = 0\n[door]\nheld_open_secs = 3\n')
    result = running_gate.reload(bad).result(timeout=10)
    assert not result.applied
    assert any(e.startswith("lock.unlock_seconds: must be between 1 and 60") for e in result.errors)
    assert any(e.startswith("door.held_open_secs: unknown key") for e in result.errors)
    assert running_gate.cfg is old
    assert running_gate.controller.core.door.settings.unlock_seconds == old.lock.unlock_seconds


def test_keys_that_need_a_restart_are_refused_by_name(running_gate):
    old = running_gate.cfg
    g = old.hardware.gpio
    new = dataclasses.replace(
        old,
        gate=dataclasses.replace(old.gate, id="another-gate"),
        hardware=dataclasses.replace(old.hardware, gpio=dataclasses.replace(g, lock_pin=4)),
        lock=dataclasses.replace(old.lock, unlock_seconds=9),
    )
    result = running_gate.reload(new).result(timeout=10)
    assert not result.applied
    refused = {e.split(":")[0] for e in result.errors}
    assert refused == {"gate.id", "hardware.gpio.lock_pin"}
    assert all("needs a restart" in e for e in result.errors)
    assert running_gate.cfg is old  # all or nothing: the reloadable unlock_seconds was not applied either
    assert running_gate.controller.core.door.settings.unlock_seconds == old.lock.unlock_seconds


def test_new_door_timing_applies_without_dropping_the_open_grant(running_gate, fake_clock):
    daemon = running_gate
    sim = daemon.hardware.simulator
    door = daemon.controller.core.door
    sim.exit()  # a grant with the old exit_unlock_seconds (5)
    wait_for(lambda: daemon.controller.snapshot()["lock"] == "unlocked", 10, "exit grant")
    first_until = door.grant_until
    assert first_until == pytest.approx(fake_clock.monotonic() + 5)

    old = daemon.cfg
    new = dataclasses.replace(old, door=dataclasses.replace(old.door, exit_unlock_seconds=12),
                              screening=dataclasses.replace(old.screening, fever_threshold_c=37.8))
    result = daemon.reload(new).result(timeout=10)
    assert result.applied and result.changed == ("door.exit_unlock_seconds", "screening.fever_threshold_c")
    assert daemon.cfg is new
    # The running grant and the lock are untouched by the reload.
    assert daemon.controller.snapshot()["lock"] == "unlocked"
    assert door.grant_until == first_until
    assert daemon.hardware.lock.is_released
    assert daemon.controller.core.cards.screening.policy.fever_threshold_c == 37.8

    fake_clock.advance(6)
    wait_for(lambda: daemon.controller.snapshot()["lock"] == "locked", 10, "relock after the old grant")
    sim.exit()
    wait_for(lambda: daemon.controller.snapshot()["lock"] == "unlocked", 10, "second exit grant")
    assert door.grant_until == pytest.approx(fake_clock.monotonic() + 12)
    reloads = [r for r in daemon.journal.iter_records() if r.type == "config_reloaded"]
    assert [r.fields["changed"] for r in reloads] == [list(result.changed)]


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken(tmp_path):
    config = write_sim_config(tmp_path, unlock_seconds=5)
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_gate(config, listener, watchdog_usec=5_000_000)
    try:
        listener.wait_for("READY")
        state_dir = tmp_path / "state"
        send_sim(state_dir, "door", {"position": "open"})
        wait_for(lambda: send_sim(state_dir, "state", {})["door"] == "open", 10, "door open")

        good = config.read_text()
        config.write_text(good.replace("unlock_seconds = 5", "unlock_seconds = 0"))
        proc.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING")
        refused = listener.wait_for("READY", count=2)
        assert refused["STATUS"].startswith("reload refused: lock.unlock_seconds: must be between 1 and 60")

        config.write_text(good.replace("unlock_seconds = 5", "unlock_seconds = 9"))
        proc.send_signal(signal.SIGHUP)
        applied = listener.wait_for("READY", count=3)
        assert applied["STATUS"] == "reloaded: lock.unlock_seconds"
        # The door state survived both reloads, and the daemon is the same process.
        assert send_sim(state_dir, "state", {})["door"] == "open"
        assert proc.poll() is None
    finally:
        rc, out = stop_gate(proc)
        listener.close()
    assert rc == 0, out
    assert "reload refused" in out and "reloaded: lock.unlock_seconds" in out
