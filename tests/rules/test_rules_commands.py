"""The station's `quarantine` command and the households store/CSV."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.clock import FakeClock
from gate.core.errors import InputError
from gate.store.passes import PassStore
from gate.store.households import HouseholdStore
from gate.rules import handle_quarantine_command, quarantine_handler
from rules_helpers import LI

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def stores(tmp_path):
    with PassStore(tmp_path / "registry.db") as passes, HouseholdStore(tmp_path / "registry.db") as households:
        passes.add(LI)
        yield passes, households


def run(stores, **cmd):
    passes, households = stores
    return handle_quarantine_command({"action": "quarantine", **cmd}, passes=passes, households=households, now=NOW)


def test_set_and_lift_household_and_pass(stores):
    passes, households = stores
    assert run(stores, household="3-501", days=14) == {"household": "3-501", "quarantine_until": "2026-12-14T02:00:00.000Z"}
    assert households.quarantine_until("3-501") == NOW + timedelta(days=14)
    assert run(stores, household="3-501", lift=True)["quarantine_until"] is None
    assert households.quarantine_until("3-501") is None
    assert run(stores, card="a0:00:00:01", until="2026-12-13T10:00:00+08:00")["card"] == "A0000001"
    assert passes.get("A0000001").quarantine_until == datetime(2026, 12, 13, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "cmd, field",
    [
        ({"days": 14}, "household/card"),
        ({"household": "3-501", "card": "A0000001", "days": 1}, "household/card"),
        ({"household": "3-501"}, "until/days/lift"),
        ({"household": "3-501", "days": 14, "lift": True}, "until/days/lift"),
        ({"household": "3-501", "days": "14"}, "days:"),
        ({"household": "3-501", "days": 0}, "days:"),
        ({"household": "3-501", "until": "next week"}, "until:"),
        ({"household": "3-501", "until": 5}, "until:"),
        ({"household": "3-501", "lift": "yes"}, "lift:"),
        ({"household": "", "days": 1}, "household:"),
        ({"card": "XYZ", "days": 1}, "card UID"),
        ({"card": "0BADCAFE", "days": 1}, "card: no pass"),
    ],
)
def test_bad_commands_name_the_field(stores, cmd, field):
    with pytest.raises(InputError, match=field):
        run(stores, **cmd)


def test_bound_handler_uses_the_clock(stores):
    passes, households = stores
    handler = quarantine_handler(passes, households, FakeClock(wall=NOW))
    assert handler({"household": "1-1", "days": 1})["quarantine_until"] == "2026-12-01T02:00:00.000Z"


def test_household_csv_import_is_all_or_nothing_and_keeps_quarantine_without_the_column(stores):
    _, households = stores
    households.set_quarantine("3-501", NOW)
    households.import_csv_text("household,name\n3-501,Li family\n1-1,Zhao\n")
    h = households.get("3-501")
    assert (h.name, h.quarantine_until) == ("Li family", NOW)
    with pytest.raises(InputError, match=r"^h\.csv line 3: quarantine_until"):
        households.import_csv_text("household,quarantine_until\n2-2,\n1-1,soon\n", source="h.csv")
    assert households.get("2-2") is None
    households.import_csv_text("household,quarantine_until\n3-501,\n")  # the column present and empty lifts
    assert households.get("3-501").quarantine_until is None
    import io

    out = io.StringIO()
    assert households.write_csv(out) == 2
    assert out.getvalue().splitlines()[0] == "household,name,note,quarantine_until"


def test_a_bare_date_from_the_station_lasts_through_that_day_in_the_gate_time_zone(stores):
    # new-user audit B9: one date rule for every command (it was midnight UTC here)
    from zoneinfo import ZoneInfo

    passes, households = stores
    handler = quarantine_handler(passes, households, FakeClock(wall=NOW), ZoneInfo("Asia/Shanghai"))
    assert handler({"household": "1-1", "until": "2026-12-13"})["quarantine_until"] == "2026-12-13T16:00:00.000Z"
    assert handler({"household": "1-1", "until": "2026-12-13T10:00:00"})["quarantine_until"] == "2026-12-13T02:00:00.000Z"
