"""The journal: gapless seq across reopen, outbox queries, durability classes, command ids, retention."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gate.store.journal import Journal, is_durable_type
from gate.store.retention import Retention, RetentionPolicy


@pytest.fixture
def journal(tmp_path, fake_clock):
    with Journal(tmp_path / "journal.db", "g1", clock=fake_clock) as j:
        yield j


def test_seq_is_gapless_and_survives_reopen(tmp_path, fake_clock):
    with Journal(tmp_path / "j.db", "g1", clock=fake_clock) as j:
        recs = j.append_many([("door_opened", {}), ("forced_open", {})])
        j.append("door_closed")
    assert [r.seq for r in recs] == [1, 2]
    with Journal(tmp_path / "j.db", "g1", clock=fake_clock) as j:
        assert j.last_seq == 3
        assert j.append("exit_request").seq == 4
        assert [r.type for r in j.records()] == ["door_opened", "forced_open", "door_closed", "exit_request"]


def test_payload_has_interface_fields(journal):
    rec = journal.append("access_granted", {"card": "DEADBEEF"})
    body = rec.payload(historical=True)
    assert body["gate"] == "g1" and body["seq"] == 1 and body["historical"] is True
    assert body["ts"] == "2026-11-29T10:00:00.000Z" and body["card"] == "DEADBEEF" and body["id"] == rec.id


def test_undelivered_puts_alarms_first_and_respects_cursors(journal):
    journal.append_many([("door_opened", {}), ("forced_open", {}), ("door_closed", {}), ("tamper", {})])
    assert [r.seq for r in journal.undelivered()] == [2, 4, 1, 3]
    assert [r.seq for r in journal.undelivered(alarm=False, after_seq=1)] == [3]
    assert [r.seq for r in journal.undelivered(alarm=True, after_seq=2)] == [4]
    journal.mark_delivered([1, 2])
    assert journal.backlog() == 2
    assert len(journal.records()) == 4  # delivery never deletes


def test_durability_class_per_record_type(journal):
    assert is_durable_type("forced_open") and is_durable_type("access_refused") and is_durable_type("access_granted")
    assert is_durable_type("command") and not is_durable_type("door_opened")
    journal.append("door_opened")
    assert journal._sync == "NORMAL"
    journal.append("access_refused", {"reason": "unknown_card"})
    assert journal._sync == "FULL"
    assert journal._synced_seq == 2  # the FULL commit synced the earlier NORMAL one too
    journal.append("door_closed")
    journal.ensure_durable(3)
    assert journal._synced_seq == 3


def test_command_ids_are_remembered_across_restarts(tmp_path, fake_clock):
    with Journal(tmp_path / "j.db", "g1", clock=fake_clock) as j:
        assert j.remember_command("c-1") is True
        assert j.remember_command("c-1") is False
    with Journal(tmp_path / "j.db", "g1", clock=fake_clock) as j:
        assert j.command_seen("c-1") and not j.command_seen("c-2")
        assert j.remember_command("c-1") is False


def test_retention_by_age_keeps_security_and_undelivered_longer(journal, fake_clock):
    journal.append_many([("door_opened", {}), ("access_refused", {"reason": "revoked"}), ("door_closed", {})])
    journal.mark_delivered([1, 2])  # seq 3 stays undelivered
    fake_clock.advance(timedelta(days=100).total_seconds())
    result = journal.prune(retention_days=90, security_retention_days=365, max_records=1000)
    assert result.by_age == 1
    assert [r.seq for r in journal.records()] == [2, 3]
    fake_clock.advance(timedelta(days=300).total_seconds())
    journal.prune(retention_days=90, security_retention_days=365, max_records=1000)
    assert [r.seq for r in journal.records()] == [3]  # never delivered: waits for the station
    assert journal.append("door_opened").seq == 4  # pruning never rewinds the counter


def test_retention_by_count_drops_oldest_ordinary_first(journal):
    journal.append_many([("door_opened", {})] * 3 + [("forced_open", {})] * 2 + [("door_closed", {})] * 3)
    journal.mark_delivered(list(range(1, 9)))
    result = journal.prune(retention_days=90, security_retention_days=365, max_records=4)
    assert result.by_count == 4
    assert [r.type for r in journal.records()] == ["forced_open", "forced_open", "door_closed", "door_closed"]
    journal.prune(retention_days=90, security_retention_days=365, max_records=1)
    assert [r.type for r in journal.records()] == ["forced_open"]  # security goes only when nothing else is left


def test_old_command_ids_are_forgotten(journal, fake_clock):
    journal.remember_command("old")
    fake_clock.advance(timedelta(days=31).total_seconds())
    journal.remember_command("new")
    assert journal.prune(retention_days=90, security_retention_days=365, max_records=1000).commands == 1
    assert not journal.command_seen("old") and journal.command_seen("new")


def test_storage_low_alarm_once_then_recovered(journal):
    free = {"mb": 10.0}
    retention = Retention(journal, RetentionPolicy(min_free_mb=64), free_mb=lambda: free["mb"])
    retention.run_once()
    retention.run_once()
    assert [r.type for r in journal.records()] == ["storage_low"]
    assert journal.records()[0].alarm and journal.records()[0].fields["free_mb"] == 10.0
    assert journal.records()[0].fields["reason"] == "disk_space"
    free["mb"] = 70.0  # inside the hysteresis band: nothing yet
    retention.run_once()
    free["mb"] = 500.0
    retention.run_once()
    assert [r.type for r in journal.records()] == ["storage_low", "storage_recovered"]
    retention.close()
    retention.close()


def test_closed_journal_raises_storage_error(tmp_path):
    from gate.core.errors import StorageError

    j = Journal(tmp_path / "j.db", "g1")
    j.close()
    j.close()
    with pytest.raises(StorageError, match="closed"):
        j.append("door_opened")


def test_a_record_that_is_not_json_fails_cleanly_and_the_next_append_works(tmp_path):
    from gate.core.errors import StorageError

    journal = Journal(tmp_path / "j.db", "g")
    with pytest.raises(StorageError, match="not JSON"):
        journal.append("bad", {"x": object()})
    assert journal.append("good", {}).seq == 1  # no transaction left open, no seq used up
