"""The daemon's journal opening and restore code, in process on mock pins: storage alarms enter the
alarm book (active alarms, acknowledgeable), lockdown comes back from journal.state after retention
took its record (security F14), a damaged journal is a device_fault device=journal at start."""
from __future__ import annotations

import os
from datetime import timedelta

from gate.config.schema import load_config
from gate.core.events import RemoteCommand
from gate.runtime.daemon import GateDaemon, JournalNote, storage_paths
from gate.store.journal import Journal

from safetykit import write_config  # noqa: E402  (tests/ is on sys.path via conftest)


def start(cfg, factory, clock) -> GateDaemon:
    daemon = GateDaemon(cfg, clock=clock, pin_factory=factory)
    daemon.start()
    pump(daemon)
    return daemon


def pump(daemon) -> None:
    while not daemon.events.empty():
        event = daemon.events.get_nowait()
        if isinstance(event, JournalNote):
            daemon._journal_note(event)
        else:
            daemon.controller.process(event)
    daemon.controller.tick()


def test_storage_low_from_the_retention_is_an_active_alarm(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path))
    daemon = start(cfg, mock_pins, fake_clock)
    try:
        daemon.post(JournalNote("storage_low", {"reason": "disk_space", "free_mb": 0.4, "min_free_mb": 64}))
        pump(daemon)
        alarms = daemon.controller.snapshot()["active_alarms"]
        assert [a["type"] for a in alarms] == ["storage_low"] and alarms[0]["seq"] is not None
        assert daemon.journal.records(record_type="storage_low")[0].fields["reason"] == "disk_space"
    finally:
        daemon.close()


def test_lockdown_survives_retention_deleting_its_record(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path))
    daemon = start(cfg, mock_pins, fake_clock)
    daemon.post(RemoteCommand("lockdown", {"on": True}, at=fake_clock.monotonic()))
    pump(daemon)
    assert daemon.controller.snapshot()["mode"] == "lockdown"
    daemon.close()
    with Journal(storage_paths(cfg)["journal"], cfg.gate.id, clock=fake_clock) as journal:
        journal.mark_delivered([r.seq for r in journal.records()])
        fake_clock.advance(timedelta(days=366).total_seconds())
        journal.prune(retention_days=90, security_retention_days=365, max_records=1000)
        assert journal.records(record_type="lockdown") == []
    again = start(cfg, mock_pins, fake_clock)
    try:
        assert again.controller.snapshot()["mode"] == "lockdown"
        assert again.journal.records(record_type="lockdown_restored")[0].fields["since_seq"] is not None
    finally:
        again.close()


def test_a_zero_byte_journal_at_start_is_a_device_fault_and_the_gate_runs(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path))
    start(cfg, mock_pins, fake_clock).close()
    path = storage_paths(cfg)["journal"]
    with Journal(path, cfg.gate.id) as journal:
        last = journal.last_seq
    os.truncate(path, 0)
    daemon = start(cfg, mock_pins, fake_clock)
    try:
        faults = daemon.journal.records(record_type="device_fault")
        assert len(faults) == 1 and faults[0].fields["device"] == "journal" and faults[0].seq > last
        assert "0 bytes" in faults[0].fields["detail"] and "damaged-" in faults[0].fields["detail"]
        assert any(a["type"] == "device_fault" for a in daemon.controller.snapshot()["active_alarms"])
        assert daemon.controller.snapshot()["lock"] == "locked"
    finally:
        daemon.close()


def test_an_unreadable_journal_state_is_a_device_fault_and_lockdown_falls_back(tmp_path, mock_pins, fake_clock):
    cfg = load_config(write_config(tmp_path))
    daemon = start(cfg, mock_pins, fake_clock)
    daemon.post(RemoteCommand("lockdown", {"on": True}, at=fake_clock.monotonic()))
    pump(daemon)
    last = daemon.journal.last_seq
    daemon.close()
    state = storage_paths(cfg)["dir"] / "journal.state"
    state.write_bytes(b"\0" * state.stat().st_size)  # both slots gone
    again = start(cfg, mock_pins, fake_clock)
    try:
        fault = again.journal.records(record_type="device_fault")[0]
        assert fault.fields["device"] == "journal" and "journal.state unreadable" in fault.fields["detail"]
        assert fault.seq > last and again.controller.snapshot()["mode"] == "lockdown"
    finally:
        again.close()
