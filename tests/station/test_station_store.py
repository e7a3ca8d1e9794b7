"""The station store (dedup, sequence tracking, gaps, status, acks) and the replay schedule."""
from __future__ import annotations

import pytest

from gate.core.errors import InputError, StorageError
from gate.station.consumer import ReplaySchedule, plan_requests
from gate.station.store import CONFLICT, DUPLICATE, INVALID, NEW, Gap, StationStore, open_station_store, validate_record


def rec(seq: int, gate: str = "n", type_: str = "access_granted", **extra) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}", "ts": "2026-11-29T10:00:00.123Z",
            "type": type_, "historical": False, **extra}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def open_store(backend, tmp_path, request):
    """open_store(NAME, **options): a store of the test's backend; one NAME is one store file or
    one database, so two opens of a NAME are two connections to one store."""
    urls: dict[str, str] = {}
    opened = []

    def open_(name: str, **options):
        if backend == "sqlite":
            where = str(tmp_path / name)
        else:
            if name not in urls:
                urls[name] = request.getfixturevalue("pg_server").create_database()
            where = urls[name]
        s = open_station_store(where, **options)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store, fake_clock):
    return open_store("s.db", clock=fake_clock)


def test_records_are_deduplicated_by_gate_and_seq(store):
    assert store.add_records([("n", "event", rec(1)), ("n", "event", rec(1)), ("s", "event", rec(1, "s"))]) \
        == [NEW, DUPLICATE, NEW]
    assert store.add_record("n", "event", {**rec(1), "id": "other"}) == CONFLICT
    assert store.count() == 2 and store.count("n") == 1
    assert store.recent(limit=5)[-1].record["id"] == "n-1"  # the first copy is kept
    assert [(g, seq, r["id"]) for g, seq, r in store.conflicts()] == [("n", 1, "other")]  # kept aside


def test_an_unverified_record_never_takes_a_verified_seq(store):
    assert store.add_record("n", "event", rec(1)) == NEW
    assert store.add_record("n", "event", {**rec(1), "id": "forged"}, verified=False) == CONFLICT
    assert store.add_record("n", "event", {**rec(2), "id": "forged-2"}, verified=False) == NEW
    assert store.gate_state("n").contiguous == 1  # an unverified record neither fills nor opens a gap
    assert store.unverified_among([("n", 1), ("n", 2)]) == {("n", 2)}
    assert store.add_record("n", "event", rec(2)) == NEW  # the gate's own record takes seq 2 back
    assert store.gate_state("n").contiguous == 2 and store.unverified_among([("n", 2)]) == set()
    assert [r["id"] for _, _, r in store.conflicts("n")] == ["forged", "forged-2"]


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


def test_without_backfill_a_new_gate_starts_where_first_seen(open_store):
    s = open_store("b.db", backfill_new_gates=False)
    s.add_record("n", "event", rec(100))
    s.add_record("n", "event", rec(102))
    assert s.gaps("n") == [Gap("n", 101, 101)]


def test_two_connections_share_one_sequence(open_store):
    a, b = open_store("x.db"), open_store("x.db")
    a.add_records([("n", "alarm", rec(s, type_="tamper")) for s in (1, 3)])
    assert b.gaps("n") == [Gap("n", 2, 2)]
    assert b.add_record("n", "event", rec(2)) == NEW
    assert a.gaps("n") == [] and a.gate_state("n").contiguous == 3


def test_a_record_the_database_refuses_costs_only_itself(store, backend):
    bad = {**rec(2), "type": "nul\x00inside"}  # PostgreSQL text cannot hold NUL; SQLite stores it
    outcomes = store.add_records([("n", "event", rec(1)), ("n", "event", bad), ("n", "event", rec(3))])
    if backend == "sqlite":
        assert outcomes == [NEW, NEW, NEW]
    else:
        assert outcomes == [NEW, INVALID, NEW] and "seq 2" in store.last_invalid
        assert store.seqs("n") == [1, 3] and store.gaps("n") == [Gap("n", 2, 2)]


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


def test_close_twice_and_use_after_close(open_store):
    s = open_store("c.db")
    s.close()
    s.close()
    with pytest.raises(StorageError, match="closed"):
        s.count()


def test_unopenable_store_names_the_path(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError, match="dir.db"):
        StationStore(tmp_path / "dir.db")


def test_unreachable_database_names_the_url_without_its_password(pg_server):
    from gate.station.store import open_station_store as open_

    url = f"postgresql://postgres:s3cret@127.0.0.1:{pg_server.port}/no_such_db"
    with pytest.raises(StorageError, match="no_such_db") as err:
        open_(url)
    assert "s3cret" not in str(err.value) and "does not exist" in str(err.value)  # libpq's reason, at once


def test_migrations_run_once_and_are_recorded(pg_url):
    import psycopg

    from gate.station.store_schema import MIGRATIONS

    open_station_store(pg_url).close()
    open_station_store(pg_url).close()  # a second start finds every version applied
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _ in MIGRATIONS]


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


def test_view_shows_unacked_alarms_first_gate_state_and_historical(tmp_path, fake_clock):
    store = StationStore(tmp_path / "s.db", clock=fake_clock)  # the view's board is SQLite-only for now
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
