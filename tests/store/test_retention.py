"""Retention (fault-injection 1b, 5, 9): never an undelivered record deleted, never an age pass on a
wall clock that jumped, never a storage alarm lost to a full disk, never a flood of tracebacks."""
from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import pytest

from gate.core.errors import StorageError
from gate.store.failure_log import FailureLog
from gate.store.journal import Journal
from gate.store.retention import Retention, RetentionPolicy


@pytest.fixture
def journal(tmp_path, fake_clock):
    with Journal(tmp_path / "journal.db", "g1", clock=fake_clock) as j:
        yield j


def policy(**kw) -> RetentionPolicy:
    return RetentionPolicy(**{"min_free_mb": 1, **kw})


def test_count_retention_never_deletes_undelivered_the_audit_case(journal):
    """exp1b: max_records=1000, broker down, 1,501 undelivered records: the old pass deleted 502."""
    journal.append("daemon_started", {})
    journal.mark_delivered([1])
    journal.append_many([("exit_request", {})] * 1501)
    assert journal.backlog() == 1501
    retention = Retention(journal, policy(max_records=1000), free_mb=lambda: 500.0)
    result = retention.run_once()
    exits = [r.seq for r in journal.undelivered(limit=5000) if r.type == "exit_request"]
    assert exits == list(range(2, 1503))  # 0 undelivered deleted
    assert result.by_count == 1 and result.over_cap_undelivered == 501  # only the delivered one went
    assert [r.seq for r in journal.records(limit=1)] == [2]
    alarm = journal.records(record_type="storage_low")
    assert len(alarm) == 1 and alarm[0].fields == {"reason": "undelivered_backlog", "undelivered": 1501,
                                                    "max_records": 1000}
    # Once delivered, the next pass trims to the cap and clears the condition.
    journal.mark_delivered([r.seq for r in journal.records()])
    assert retention.run_once().by_count == 502
    assert journal.count() == 1001 and journal.backlog() == 1  # and the storage_recovered record
    assert journal.records(record_type="storage_recovered")[0].fields["reason"] == "undelivered_backlog"


def test_backlog_alarm_comes_before_the_cap(journal):
    journal.append_many([("exit_request", {})] * 800)
    retention = Retention(journal, policy(max_records=1000), free_mb=lambda: 500.0)
    retention.run_once()
    assert journal.count() == 801 and [r.type for r in journal.records(newest=True, limit=1)] == ["storage_low"]
    assert journal.records(newest=True, limit=1)[0].alarm


def test_security_records_go_by_count_only_when_delivered(journal):
    journal.append_many([("access_refused", {"reason": "revoked"})] * 5)
    journal.mark_delivered([1, 2])
    result = journal.prune(retention_days=90, security_retention_days=365, max_records=1)
    assert result.by_count == 2 and [r.seq for r in journal.records()] == [3, 4, 5]


def test_a_wall_clock_400_days_ahead_deletes_nothing_by_age(journal, fake_clock):
    """exp9: with the wall clock set 400 days ahead the next pass deleted all 15 delivered records."""
    retention = Retention(journal, policy(), free_mb=lambda: 500.0)
    retention.run_once()  # anchors the retention's clock
    journal.append_many([("door_opened", {}), ("access_refused", {"reason": "revoked"})] * 8)
    journal.mark_delivered([r.seq for r in journal.records()])
    fake_clock.advance(3600)
    fake_clock.jump_wall(timedelta(days=400))
    result = retention.run_once()
    assert result.by_age == 0 and journal.count() == 16
    # Real time passing still ages records (on the monotonic clock): 91 days later the ordinary ones go.
    fake_clock.advance(timedelta(days=91).total_seconds())
    assert retention.run_once().by_age == 8
    assert {r.type for r in journal.records()} == {"access_refused"}


def test_a_wall_clock_set_back_is_followed(journal, fake_clock):
    retention = Retention(journal, policy(), free_mb=lambda: 500.0)
    retention.run_once()
    journal.append("door_opened")
    journal.mark_delivered([1])
    fake_clock.jump_wall(timedelta(days=-30))
    fake_clock.advance(timedelta(days=100).total_seconds())
    assert retention.run_once().by_age == 0  # 70 days on the (earlier) wall clock: not yet old


def test_seen_command_ids_are_not_forgotten_on_a_jumped_clock(journal, fake_clock):
    """Forgetting ids early would allow a replay (security review F5): same trusted time."""
    retention = Retention(journal, policy(), free_mb=lambda: 500.0)
    retention.run_once()
    journal.remember_command("c-1")
    fake_clock.jump_wall(timedelta(days=31))
    assert retention.run_once().commands == 0 and journal.command_seen("c-1")


class RefusingJournal(Journal):
    """The disk is full: every append fails like SQLite's SQLITE_FULL."""

    full = False

    def _append_many(self, items):
        if self.full:
            raise StorageError(f"{self.path}: cannot write journal: database or disk is full") \
                from sqlite3.OperationalError("database or disk is full")
        return super()._append_many(items)


def test_storage_low_is_kept_pending_while_the_disk_is_full_and_journaled_after(tmp_path, fake_clock):
    """exp5 D: full between two passes: `cannot journal storage_low`, and it was never retried."""
    journal = RefusingJournal(tmp_path / "journal.db", "g1", clock=fake_clock)
    free = {"mb": 500.0}
    retention = Retention(journal, policy(min_free_mb=64), free_mb=lambda: free["mb"])
    retention.run_once()
    journal.full, free["mb"] = True, 0.4
    retention.run_once()
    retention.run_once()  # still full: still pending, not raised twice
    assert retention.pending == [("storage_low", {"reason": "disk_space", "free_mb": 0.4, "min_free_mb": 64})]
    journal.full, free["mb"] = False, 10.0  # writable again, space still low
    retention.run_once()
    assert [r.type for r in journal.records()] == ["storage_low"] and retention.pending == []
    free["mb"] = 500.0
    retention.run_once()
    assert [r.type for r in journal.records()] == ["storage_low", "storage_recovered"]
    journal.close()


def test_a_failure_that_repeats_logs_one_traceback_then_rate_limited_lines(caplog):
    now = {"t": 0.0}
    failures = FailureLog(logging.getLogger("gate.test"), every=60.0, monotonic=lambda: now["t"])
    caplog.set_level(logging.INFO, logger="gate.test")
    for i in range(675):  # the audit's 675 CRITICAL tracebacks in ~100 s
        try:
            raise OSError(28, "No space left on device")
        except OSError as exc:
            failures.failed("journal write failed", exc)
        now["t"] += 100 / 675
    failures.succeeded("journal writes work again")
    records = [r for r in caplog.records if r.name == "gate.test"]
    assert len(records) == 3  # the first with its traceback, one after a minute, one on recovery
    assert records[0].exc_info is not None and all(r.exc_info is None for r in records[1:])
    assert "more since the last line" in records[1].getMessage()
    assert "after 675 failure(s)" in records[-1].getMessage()
