"""The keypad lockout state across restarts: saved with its wall time, aged by the downtime on load."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from gate.core.keypad_entry import LockoutState
from gate.store.keypad_lockout import KeypadLockoutStore

T0 = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
LOCKED = LockoutState(failures=2, lockouts=3, locked_for_s=120.0, quiet_for_s=-120.0, lockout_ages_s=(0.0, 400.0))


def test_nothing_saved_is_no_lockout(tmp_path):
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        assert store.load(T0) is None


def test_a_restart_keeps_the_lockout_minus_the_downtime(tmp_path):
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        store.save(LOCKED, T0)
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        state = store.load(T0 + timedelta(seconds=50))
    assert state == LockoutState(failures=2, lockouts=3, locked_for_s=70.0, quiet_for_s=-70.0,
                                 lockout_ages_s=(50.0, 450.0))


def test_a_clock_set_back_never_shortens_the_lockout(tmp_path):
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        store.save(LOCKED, T0)
        assert store.load(T0 - timedelta(days=400)) == LOCKED


def test_an_unreadable_row_is_logged_and_ignored(tmp_path, caplog):
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        store.save(LOCKED, T0)
    conn = sqlite3.connect(tmp_path / "registry.db")
    conn.execute("UPDATE keypad_lockout SET state = '{\"failures\": \"x\"}'")
    conn.commit()
    conn.close()
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        assert store.load(T0) is None
    assert "keypad lockout state unreadable" in caplog.text


def test_saved_with_full_sync(tmp_path):
    with KeypadLockoutStore(tmp_path / "registry.db") as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
