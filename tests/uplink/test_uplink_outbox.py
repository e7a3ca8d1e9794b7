"""The outbox cursor: alarms jump the backlog, the in-flight cap holds, replays come in bounded batches."""
from __future__ import annotations

from gate.store.journal import Journal
from gate.uplink.outbox import BACKLOG, LIVE, REPLAY, Outbox


def _send_all(outbox, batch, first_mid):
    for i, out in enumerate(batch):
        outbox.sent(first_mid + i, out)
    return first_mid + len(batch)


def test_alarm_jumps_a_backlog_and_a_huge_replay(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.append_many([("door_opened", {})] * 1000)
        outbox = Outbox(journal, max_in_flight=50, replay_batch=20)
        outbox.session_started()
        journal.append_many([("door_closed", {})])
        outbox.request_replay(1, 1000)
        batch = outbox.next_batch()
        assert len(batch) == 50 and [o.record.seq for o in batch] == list(range(1, 51))
        assert all(o.historical and o.kind == BACKLOG for o in batch)
        mid = _send_all(outbox, batch, 1)
        assert outbox.next_batch() == []  # the cap holds
        alarm = journal.append("forced_open")
        for m in range(1, mid):
            assert outbox.acked(m)
        journal.mark_delivered(outbox.take_acked())
        batch = outbox.next_batch()
        assert batch[0].record.seq == alarm.seq and batch[0].kind == LIVE and not batch[0].historical
        # The backlog (then live records) follow; the replay waits for room and then comes 20 at a time.
        assert all(o.kind != REPLAY for o in batch)


def test_replay_batches_are_bounded_and_historical(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.mark_delivered([r.seq for r in journal.append_many([("door_opened", {})] * 100)])
        outbox = Outbox(journal, max_in_flight=50, replay_batch=20)
        outbox.session_started()
        assert outbox.request_replay(10, 500) == (10, 100)
        batch = outbox.next_batch()
        assert [o.record.seq for o in batch] == list(range(10, 30)) and all(o.historical for o in batch)
        _send_all(outbox, batch, 1)
        assert [o.record.seq for o in outbox.next_batch()] == list(range(30, 50))


def test_unacked_records_and_replays_are_sent_again_next_session(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.append_many([("door_opened", {})] * 3)
        outbox = Outbox(journal, max_in_flight=10)
        outbox.session_started()
        batch = outbox.next_batch()
        _send_all(outbox, batch, 1)
        assert outbox.acked(1)
        outbox.acked(99)  # a PUBACK that overtakes sent()
        journal.mark_delivered(outbox.take_acked())
        outbox.session_ended()
        assert outbox.next_batch() == []
        outbox.session_started()
        assert [o.record.seq for o in outbox.next_batch()] == [2, 3]


def test_early_puback_is_matched_to_its_record(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.append("door_opened")
        outbox = Outbox(journal)
        outbox.session_started()
        (out,) = outbox.next_batch()
        assert outbox.acked(7) is False
        outbox.sent(7, out)
        assert outbox.take_acked() == [1]
        outbox.sent(8, None)  # a status message's PUBACK is not a record's
        assert outbox.acked(8) is False and outbox.take_acked() == []
