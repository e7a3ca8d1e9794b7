"""PassStore and the pass CSV: validation, all-or-nothing import, export round trip, quarantine column."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from gate.core.errors import InputError
from gate.store.passes import PassExists, PassStore
from gate.core.passes import make_pass, parse_pass_csv

T = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    with PassStore(tmp_path / "registry.db") as s:
        yield s


def test_make_pass_normalises_and_validates():
    p = make_pass("de:ad-be:ef", " Li ", " 3-501 ", "2026-12-01", None, "worker")
    assert (p.card, p.name, p.household, p.pass_type) == ("DEADBEEF", "Li", "3-501", "worker")
    assert p.valid_from == datetime(2026, 12, 1, tzinfo=timezone.utc)
    with pytest.raises(InputError, match="pass_type"):
        make_pass("DEADBEEF", "Li", pass_type="alien")
    with pytest.raises(InputError, match="line 4: valid_until: must be after"):
        make_pass("DEADBEEF", "Li", None, "2026-12-02", "2026-12-01", where="line 4: ")


def test_add_get_revoke_and_readd(store):
    store.add(make_pass("DEADBEEF", "Li", "3-501"))
    assert store.get("DEADBEEF").household == "3-501"
    assert store.revoke("DEADBEEF") is True
    assert store.get("DEADBEEF").revoked
    assert store.revoke("00000000") is False
    store.add(make_pass("DEADBEEF", "Li", "3-501"), replace=True)
    assert not store.get("DEADBEEF").revoked


def test_add_refuses_an_existing_card_unless_replace(store):
    # B8: `passes add de:ad:be:ef --name Colons` silently replaced Wang Li's pass and dropped her household.
    store.add(make_pass("DEADBEEF", "Wang Li", "3-201"))
    with pytest.raises(PassExists, match=r"card DEADBEEF has a pass already \(Wang Li, household 3-201\); "
                                         "give --replace"):
        store.add(make_pass("de:ad:be:ef", "Colons"))
    assert (store.get("DEADBEEF").name, store.get("DEADBEEF").household) == ("Wang Li", "3-201")
    store.add(make_pass("DEADBEEF", "Colons"), replace=True)
    assert (store.get("DEADBEEF").name, store.get("DEADBEEF").household) == ("Colons", None)


def test_quarantine_survives_upsert(store):
    store.add(make_pass("DEADBEEF", "Li", "3-501"))
    assert store.set_quarantine("DEADBEEF", T) is True
    store.upsert_many([make_pass("DEADBEEF", "Li Wei", "3-501")])  # the station re-sends its roster
    p = store.get("DEADBEEF")
    assert (p.name, p.quarantine_until) == ("Li Wei", T)
    assert p.to_json()["quarantine_until"] == "2026-12-01T08:00:00.000Z"
    store.set_quarantine("DEADBEEF", None)
    assert store.get("DEADBEEF").quarantine_until is None
    assert store.set_quarantine("01020304", T) is False


def test_csv_import_is_all_or_nothing_with_line_numbers(store):
    good = "card,name,household\nDEADBEEF,Li,3-501\n01020304,Wang,\n"
    assert store.import_csv_text(good) == 2
    bad = "card,name,household\nAABBCCDD,Zhao,1-1\nnot-hex,Qian,1-2\n"
    with pytest.raises(InputError, match=r"^in\.csv line 3: card UID 'not-hex'"):
        store.import_csv_text(bad, source="in.csv")
    assert store.get("AABBCCDD") is None
    assert store.count() == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "line 1: empty file"),
        ("card,name,colour\n", "line 1: unknown column"),
        ("card,household\n", "missing required column 'name'"),
        ("card,name\nDEADBEEF,Li,extra\n", "line 2: more fields"),
        ("card,name\nDEADBEEF,Li\nde:ad:be:ef,Li again\n", "line 3: card DEADBEEF already on line 2"),
        ("card,name,valid_until\nDEADBEEF,Li,tomorrow\n", "line 2: valid_until"),
    ],
)
def test_csv_errors_name_the_line(text, message):
    with pytest.raises(InputError, match=message):
        parse_pass_csv(text)


def test_export_round_trip_skips_revoked(store, tmp_path):
    store.import_csv_text(
        "card,name,household,valid_from,valid_until,pass_type\n"
        "DEADBEEF,Li,3-501,,,resident\n01020304,Wang,,2026-12-01T08:00:00Z,2026-12-01T12:00:00Z,visitor\n"
        "AABBCCDD,Gone,,,,resident\n"
    )
    store.revoke("AABBCCDD")
    text = store.export_csv()
    assert "AABBCCDD" not in text
    with PassStore(tmp_path / "other.db") as other:
        assert other.import_csv_text(text) == 2
        assert other.get("01020304") == store.get("01020304")


def test_iter_all_streams_pages_in_card_order(store, monkeypatch):
    import gate.store.passes as passes_mod

    monkeypatch.setattr(passes_mod, "_PAGE", 3)
    cards = [f"{i:08X}" for i in range(10)]
    store.upsert_many(make_pass(c, f"n{c}") for c in reversed(cards))
    assert [p.card for p in store.iter_all()] == cards
    assert [p.card for p in store.in_household("none")] == []


def test_old_registry_is_migrated(tmp_path):
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE passes (card TEXT PRIMARY KEY, name TEXT NOT NULL, household TEXT, pass_type TEXT NOT NULL"
        " DEFAULT 'resident', valid_from TEXT, valid_until TEXT, revoked_at TEXT, updated_at TEXT NOT NULL);"
        "INSERT INTO passes VALUES ('DEADBEEF', 'Li', NULL, 'resident', NULL, NULL, NULL, 'x');"
    )
    conn.commit()
    conn.close()
    with PassStore(path) as s:
        assert s.get("DEADBEEF").quarantine_until is None
        assert s.set_quarantine("DEADBEEF", T)


def test_close_twice(tmp_path):
    s = PassStore(tmp_path / "r.db")
    s.close()
    s.close()


def test_a_bare_date_is_a_whole_day_in_the_gates_time_zone():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from gate.core.passes import make_pass

    shanghai = ZoneInfo("Asia/Shanghai")
    p = make_pass("DEADBEEF", "Wang Li", valid_from="2026-12-01", valid_until="2026-12-31", tz=shanghai)
    assert p.valid_from == datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)   # midnight in Shanghai
    assert p.valid_until == datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)  # through the 31st
    utc = make_pass("DEADBEEF", "Wang Li", valid_until="2026-12-31")
    assert utc.valid_until == datetime(2027, 1, 1, tzinfo=timezone.utc)
