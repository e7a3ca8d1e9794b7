"""The station store (dedup, sequence tracking, gaps, status, acks) and the replay schedule."""
from __future__ import annotations

import pytest

from gate.core.errors import InputError, StorageError
from gate.station.consumer import ReplaySchedule, plan_requests
from gate.station.store import CONFLICT, DUPLICATE, NEW, Gap, StationStore, validate_record


def rec(seq: int, gate: str = "n", type_: str = "access_granted", **extra) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}", "ts": "2026-11-29T10:00:00.123Z",
            "type": type_, "historical": False, **extra}


@pytest.fixture
def store(tmp_path, fake_clock):
    with StationStore(tmp_path / "s.db", clock=fake_clock) as s:
        yield s


def test_records_are_deduplicated_by_gate_and_seq(store):
    assert store.add_records([("n", "event", rec(1)), ("n", "event", rec(1)), ("s", "event", rec(1, "s"))]) \
        == [NEW, DUPLICATE, NEW]
    assert store.add_record("n", "event", {**rec(1), "id": "other"}) == CONFLICT
    assert store.count() == 2 and store.count("n") == 1
    assert store.recent(limit=5)[-1].record["id"] == "n-1"  # the first copy is kept
    assert store.db.execute("SELECT COUNT(*) FROM conflicts").fetchone()[0] == 1


def test_gaps_at_head_middle_and_tail(store):
    store.add_records([("n", "event", rec(s)) for s in (3, 4, 7, 10)])
    assert store.gaps("n") == [Gap("n", 1, 2), Gap("n", 5, 6), Gap("n", 8, 9)]
    store.set_status("n", {"online": True, "gate": "n", "last_seq": 12})
    assert store.gaps("n")[-1] == Gap("n", 11, 12)
    store.add_records([("n", "event", rec(s)) for s in (1, 2, 5, 6, 8, 9, 11, 12)])
    assert store.gaps() == []
    assert store.gate_state("n").contiguous == 12


def test_status_only_gap_and_lower_last_seq_never_shrinks_the_top(store):
    store.set_status("n", {"online": True, "gate": "n", "last_seq": 4})
    assert store.gaps("n") == [Gap("n", 1, 4)]
    state = store.set_status("n", {"online": False, "gate": "n"})  # a last will carries no last_seq
    assert state.online is False and state.reported_last_seq == 4


def test_without_backfill_a_new_gate_starts_where_first_seen(tmp_path):
    with StationStore(tmp_path / "b.db", backfill_new_gates=False) as s:
        s.add_record("n", "event", rec(100))
        s.add_record("n", "event", rec(102))
        assert s.gaps("n") == [Gap("n", 101, 101)]


def test_two_connections_share_one_sequence(tmp_path):
    with StationStore(tmp_path / "x.db") as a, StationStore(tmp_path / "x.db") as b:
        a.add_records([("n", "alarm", rec(s, type_="tamper")) for s in (1, 3)])
        assert b.gaps("n") == [Gap("n", 2, 2)]
        assert b.add_record("n", "event", rec(2)) == NEW
        assert a.gaps("n") == [] and a.gate_state("n").contiguous == 3


def test_acknowledgements_hide_alarms_from_the_unacked_list(store):
    store.add_records([("n", "alarm", rec(1, type_="forced_open")), ("n", "alarm", rec(2, type_="tamper"))])
    assert store.ack("n", 1, by="officer wang", cmd_id="c1") is True
    assert store.ack("n", 1, by="officer li") is False
    store.set_ack_result("n", 1, ok=True)
    assert [r.seq for r in store.recent("alarm", unacked_only=True)] == [2]
    assert store.acked_by("n", 1) == "officer wang"


@pytest.mark.parametrize("bad, message", [
    ({"gate": "n", "seq": 0, "id": "a", "ts": "t", "type": "x"}, "seq must be an integer"),
    ({"gate": "n", "seq": True, "id": "a", "ts": "t", "type": "x"}, "seq must be an integer"),
    ({"gate": "other", "seq": 1, "id": "a", "ts": "t", "type": "x"}, "not the topic's gate"),
    ({"gate": "n", "seq": 1, "ts": "t", "type": "x"}, "id must be"),
    ([1, 2], "not a JSON object"),
])
def test_invalid_records_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        validate_record("n", "event", bad)


def test_invalid_status_is_rejected(store):
    with pytest.raises(InputError, match="online"):
        store.set_status("n", {"gate": "n"})
    with pytest.raises(InputError, match="last_seq"):
        store.set_status("n", {"online": True, "last_seq": -1})


def test_close_twice_and_use_after_close(tmp_path):
    s = StationStore(tmp_path / "c.db")
    s.close()
    s.close()
    with pytest.raises(StorageError, match="closed"):
        s.count()


def test_unopenable_store_names_the_path(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError, match="dir.db"):
        StationStore(tmp_path / "dir.db")


def test_plan_requests_caps_the_batch_oldest_first():
    gaps = [Gap("n", 5, 7), Gap("n", 20, 2000)]
    assert plan_requests(gaps, 10) == [(5, 7), (20, 26)]
    assert plan_requests(gaps, 2) == [(5, 6)]


def test_schedule_waits_for_grace_then_backs_off(fake_clock):
    s = ReplaySchedule(fake_clock, grace=1.0, initial=2.0, maximum=5.0)
    s.observe("n", 3)
    assert s.due() == []
    fake_clock.advance(1.0)
    assert s.due() == ["n"]
    s.asked("n")  # next in 2 s, then 4, then capped at 5
    fake_clock.advance(1.9)
    assert s.due() == []
    fake_clock.advance(0.1)
    assert s.due() == ["n"]
    s.asked("n")
    fake_clock.advance(3.9)
    assert s.due() == []
    fake_clock.advance(0.1)
    s.asked("n")
    fake_clock.advance(4.9)
    assert s.due() == []
    fake_clock.advance(0.1)
    assert s.due() == ["n"]


def test_schedule_progress_postpones_and_resets_and_filling_forgets(fake_clock):
    s = ReplaySchedule(fake_clock, grace=1.0, initial=2.0, maximum=60.0)
    s.observe("n", 10)
    fake_clock.advance(1.0)
    s.asked("n")
    s.asked("n")  # delay now 4
    fake_clock.advance(1.5)
    s.observe("n", 6)  # replayed records flowing in: wait until they stop
    fake_clock.advance(0.9)
    assert s.due() == []
    fake_clock.advance(2.0)
    assert s.due() == ["n"]
    s.asked("n")  # reset to the initial delay by the progress
    fake_clock.advance(2.0)
    assert s.due() == ["n"]
    s.observe("n", 0)
    assert s.due() == [] and s.pending() == {}


def test_view_shows_unacked_alarms_first_gate_state_and_historical(store):
    from rich.console import Console

    from gate.station.view import StationView

    store.add_records([("n", "alarm", rec(1, type_="forced_open")),
                       ("n", "event", rec(2, type_="access_refused", reason="fever", historical=True)),
                       ("n", "alarm", rec(3, type_="fever", temperature_c=38.2))])
    store.ack("n", 3, by="wang")
    store.set_status("n", {"online": False, "gate": "n"})
    console = Console(record=True, width=160)
    console.print(StationView(store).render())
    text = console.export_text()
    assert text.index("ALARMS") < text.index("Gates") < text.index("Recent events")
    assert text.index("FORCED_OPEN") < text.index("FEVER")  # unacked before acked
    assert "NOT ACKED" in text and "by wang" in text and "OFFLINE" in text
    assert "historical" in text and "reason=fever" in text
