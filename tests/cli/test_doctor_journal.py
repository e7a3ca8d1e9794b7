"""`gatectl doctor`'s storage row runs the daemon's journal integrity check (fault-injection 6: it said
storage PASS on a corrupt journal)."""
from __future__ import annotations

import os

from gate.cli.doctor import main, run_checks
from gate.store.journal import Journal

from test_doctor import by_check, write_config


def journal_with_history(state, n=3000):
    with Journal(state / "journal.db", "doctor-gate") as j:
        j.append_many([("exit_request", {"i": i, "pad": "x" * 40}) for i in range(n)])


def test_doctor_fails_storage_on_a_corrupt_journal_and_names_the_recovery(tmp_path, capsys):
    config = write_config(tmp_path, 1, mqtt_enabled=False)
    state = tmp_path / "state"
    journal_with_history(state)
    assert by_check(run_checks(str(config)))["storage"].result == "PASS"
    db = state / "journal.db"
    with open(db, "r+b") as f:
        f.seek(db.stat().st_size // 2 // 4096 * 4096)
        f.write(os.urandom(4096))
    row = by_check(run_checks(str(config)))["storage"]
    assert row.result == "FAIL" and row.detail.startswith("journal ")
    assert "journal.db.damaged-" in row.hint and "above seq 3000" in row.hint
    assert main(["-c", str(config)]) == 1 and "storage" in capsys.readouterr().out


def test_doctor_fails_storage_on_a_deleted_journal_and_creates_nothing(tmp_path):
    config = write_config(tmp_path, 1, mqtt_enabled=False)
    state = tmp_path / "state"
    journal_with_history(state, 10)
    (state / "journal.db").unlink()
    row = by_check(run_checks(str(config)))["storage"]
    assert row.result == "FAIL" and "journal missing" in row.detail
    assert not (state / "journal.db").exists()


def test_doctor_warns_about_a_damaged_journal_set_aside(tmp_path):
    config = write_config(tmp_path, 1, mqtt_enabled=False)
    state = tmp_path / "state"
    journal_with_history(state, 10)
    os.truncate(state / "journal.db", 0)
    Journal(state / "journal.db", "doctor-gate", recover=True).close()  # what the daemon does at start
    row = by_check(run_checks(str(config)))["storage"]
    assert row.result == "WARN" and "journal.db.damaged-" in row.detail
