"""Retention at the station (gate/station/retention.py) on both store backends with an injected clock:
ordinary records go after retain_days in small batches, alarms and their handling stay until
retain_alarm_days, pruned seqs are never asked for again; `gatectl station prune [--dry-run]`."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from gate.core.errors import ConfigError
from gate.station.config import parse_station_config

from gate.station.retention import prune
from gate.station.supervision import Supervisor
from gatefixture import wait_for
from test_station_store import backend, open_store, rec  # noqa: F401 - the two-backend fixtures

DAY = timedelta(days=1)


def fill(store, clock, gate: str, seqs, type_="access_granted", kind="event", **extra) -> None:
    store.add_records([(gate, kind, rec(s, gate, type_, **extra)) for s in seqs])


def test_old_records_go_in_batches_and_alarms_with_their_handling_stay(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)
    fill(store, fake_clock, "g", range(1, 11))                              # old ordinary records
    fill(store, fake_clock, "g", [11], "forced_open", "alarm")             # an old alarm ...
    fill(store, fake_clock, "g", [12], "alarm_acknowledged", alarm_seq=11)  # ... and what closed it
    fill(store, fake_clock, "g", range(14, 17))                            # 13 never arrived
    store.ack("g", 11, by="wang")
    store.note_replay("g", 13, 13, "c1")
    fake_clock.advance(40 * 86400)
    fill(store, fake_clock, "g", range(17, 20))                            # recent
    now = fake_clock.wall()

    dry = prune(store, retain_days=30, retain_alarm_days=365, now=now, dry_run=True)
    assert (dry.records, dry.alarm_records, dry.tables) == (13, 0, {"replay_requests": 1, "conflicts": 0})
    assert store.count("g") == 18  # a dry run removes nothing

    report = prune(store, retain_days=30, retain_alarm_days=365, now=now, batch=4)  # 4 transactions
    assert (report.records, report.alarm_records) == (13, 0)
    assert report.lines()[0] == "removed 13 record(s) and 0 alarm record(s)"
    assert store.seqs("g") == [11, 12, 17, 18, 19]
    assert store.acked_by("g", 11) == "wang" and store.replay_history("g")[0] == 0
    assert store.gaps("g") == []  # 13 was lost before the window: never asked for again
    fill(store, fake_clock, "g", [21])
    assert [(gap.from_seq, gap.to_seq) for gap in store.gaps("g")] == [(20, 20)]  # a new hole still is

    # A year later the alarm goes too, with its acknowledgement and the record that closed it.
    fake_clock.advance(400 * 86400)
    report = prune(store, retain_days=30, retain_alarm_days=365, now=fake_clock.wall())
    assert (report.records, report.alarm_records, report.tables.get("acks")) == (4, 2, 1)
    assert store.seqs("g") == [] and store.acked_by("g", 11) is None
    assert prune(store, retain_days=30, retain_alarm_days=365, now=fake_clock.wall()).records == 0


def test_zero_keeps_everything_and_station_alarms_stay_outside_the_sequence(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)
    sup = Supervisor(store, {"g": 10.0}, clock=fake_clock)
    sup.tick(connected=True)
    fake_clock.advance(11)
    sup.tick(connected=True)  # a station gate_silent alarm, seq -1
    fill(store, fake_clock, "g", range(1, 4))
    sup.heard("g")
    sup.tick(connected=True)  # closed by the station's record, seq -2
    fake_clock.advance(1000 * 86400)
    nothing = prune(store, retain_days=0, retain_alarm_days=0, now=fake_clock.wall())
    assert (nothing.records, nothing.alarm_records) == (0, 0) and store.count("g") == 5
    report = prune(store, retain_days=30, retain_alarm_days=90, now=fake_clock.wall())
    assert (report.records, report.alarm_records) == (3, 2) and store.count("g") == 0
    assert store.gate_state("g").contiguous == 3 and store.gaps("g") == []


def test_console_tables_are_pruned_with_the_alarms_on_sqlite(tmp_path, fake_clock):
    from gate.station.console_store import ConsoleStore
    from gate.station.store import StationStore

    path = tmp_path / "s.db"
    with StationStore(path, clock=fake_clock) as store, ConsoleStore(path, clock=fake_clock) as console:
        fill(store, fake_clock, "g", [1], "forced_open", "alarm")
        console.claim("g", 1, "wang")
        console.record_ack("g", 1, "wang", "patrol sent", None)
        console.audit("wang", "ack", "g/1", "patrol sent")
        fake_clock.advance(100 * 86400)
        fill(store, fake_clock, "g", [2], "tamper", "alarm")
        console.claim("g", 2, "li")
        report = prune(store, retain_days=30, retain_alarm_days=90, now=fake_clock.wall())
        assert report.alarm_records == 1
        assert {t: report.tables.get(t) for t in ("claims", "console_acks", "audit")} == \
            {"claims": 1, "console_acks": 1, "audit": 1}
        assert console.alarm("g", 1) is None and console.alarm("g", 2).claimed_by == "li"
        assert console.audit_log() == []


def test_gatectl_station_prune_dry_run_then_prune(tmp_path):
    from gate.clock import SystemClock
    from gate.station.store import StationStore

    (tmp_path / "g.secret").write_text("prune-test-secret-0123456789\n")
    cfg = tmp_path / "station.toml"
    cfg.write_text('[station]\nstore = "station.db"\nretain_days = 30\nretain_alarm_days = 365\n'
                   '[gates."g"]\nsecret_file = "g.secret"\n')
    with StationStore(tmp_path / "station.db", clock=SystemClock()) as store:
        fill(store, None, "g", [1, 2])
        store.db.execute("UPDATE records SET received_at = '2020-01-01T00:00:00.000Z'")  # long ago

    def gatectl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), *args],
                              capture_output=True, text=True, timeout=60)

    out = gatectl("prune", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "would remove 2 record(s) and 0 alarm record(s)"
    out = gatectl("prune")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "removed 2 record(s) and 0 alarm record(s)"
    with StationStore(tmp_path / "station.db") as store:
        assert store.count() == 0


def test_retention_keys_are_checked_together():
    with pytest.raises(ConfigError) as err:
        parse_station_config({"station": {"retain_days": 30, "retain_alarm_days": 7, "retain_dais": 1,
                                          "supervision_seconds": -1}, "gates": {"g": {"secret_file": "x",
                                                                                        "supervision_seconds": 0.5}}})
    assert err.value.problems == [
        "station.retain_dais: unknown key (did you mean 'retain_days'?)",
        "station.supervision_seconds: must not be negative (0: off), got -1",
        "gates.g.supervision_seconds: at least 1 second (or 0: off), got 0.5",
        "station.retain_alarm_days: alarms must be kept at least as long as records (retain_days = 30), got 7"]
    cfg = parse_station_config({"gates": {"g": {"secret_file": "x", "supervision_seconds": 0}}})
    assert (cfg.retain_days, cfg.retain_alarm_days, cfg.supervision_seconds, cfg.supervision_for("g")) == (0, 0, 300, 0)


def test_serve_s_pruner_runs_on_its_own_thread_and_stops(tmp_path, fake_clock):
    from gate.station.retention import Pruner
    from gate.station.store import StationStore

    cfg = parse_station_config({"station": {"store": str(tmp_path / "s.db"), "retain_days": 1}})
    with StationStore(cfg.store, clock=fake_clock) as store:
        fill(store, fake_clock, "g", [1, 2, 3])
    fake_clock.advance(2 * 86400)
    idle = Pruner(replace(cfg, retain_days=0.0)).start()  # keep forever: no thread at all
    assert idle._thread is None
    idle.stop()
    pruner = Pruner(cfg, clock=fake_clock).start()
    try:
        wait_for(lambda: pruner.last is not None, 20, "the first prune")
    finally:
        pruner.stop()
    assert pruner.last.records == 3 and not pruner._thread.is_alive()
