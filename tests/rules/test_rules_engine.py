"""CommunityRules through the card flow, on in-memory fakes: each rule at its edges, records out."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gate.core.errors import StorageError
from gate.rules import RulesSettings
from gate.rules.schedules import WeeklySchedule
from rules_helpers import LI, LI_WIFE, SH, START, VISITOR, WORKER, FakeHouseholds, FakePasses, Gate, outcome, quarantined, types

MS = timedelta(milliseconds=1)


# --- direction -----------------------------------------------------------------------------------
def test_reader_roles_set_the_direction_recorded():
    g = Gate(reader_roles={"in": "entry", "out": "exit"})
    recs, granted = g.tap(LI.card, "out")
    assert granted and recs[-1].fields["direction"] == "exit" and recs[-1].fields["reader"] == "out"
    recs, _ = g.tap(LI.card, "in")
    assert recs[-1].fields["direction"] == "entry"


def test_two_way_reader_infers_from_last_passage_and_takes_explicit_direction():
    g = Gate()
    # Residents are presumed at home: their first tap at a two-way reader is an exit, visitors' an entry.
    assert g.tap(LI.card)[0][-1].fields["direction"] == "exit"
    assert g.tap(LI.card)[0][-1].fields["direction"] == "entry"
    assert g.tap(VISITOR.card)[0][-1].fields["direction"] == "entry"
    d = g.rules.decide(LI.card, "main", g.wall, g.mono, direction="entry")
    assert d.fields["direction"] == "entry"


# --- quarantine ----------------------------------------------------------------------------------
def test_household_quarantine_refuses_exit_with_alarm_until_the_exact_minute():
    until = START + timedelta(days=14)
    g = Gate(households=FakeHouseholds(**{"3-501": until}), reader_roles={"main": "exit", "in": "entry"})
    recs, granted = g.tap(LI_WIFE.card)
    assert not granted
    assert types(recs) == ["quarantine_exit", "access_refused"]
    alarm = recs[0].fields
    assert (alarm["card"], alarm["household"], alarm["quarantine_until"]) == (LI_WIFE.card, "3-501", "2026-12-14T02:00:00.000Z")
    assert recs[1].fields["reason"] == "quarantine"
    assert g.tap(LI.card, "in")[1]  # entry is allowed
    g.advance(days=14, milliseconds=-1)
    assert outcome(g.tap(LI.card)[0]) == ("access_refused", "quarantine")
    g.advance(milliseconds=1)  # 10:00:00.000 local, the end of the observation
    assert outcome(g.tap(LI.card)[0]) == ("access_granted", None)


def test_pass_quarantine_only_affects_that_pass_and_beats_other_refusals():
    until = START + timedelta(days=1)
    expired_and_quarantined = quarantined(LI, until)
    from dataclasses import replace

    expired_and_quarantined = replace(expired_and_quarantined, valid_until=START - timedelta(days=1))
    g = Gate(passes=FakePasses(expired_and_quarantined, LI_WIFE), reader_roles={"main": "exit"})
    recs, _ = g.tap(LI.card)
    assert types(recs) == ["quarantine_exit", "access_refused"]  # the committee hears of it even so
    assert outcome(g.tap(LI_WIFE.card)[0]) == ("access_granted", None)


def test_quarantine_exit_in_lockdown_still_alarms():
    g = Gate(households=FakeHouseholds(**{"3-501": START + timedelta(days=1)}), reader_roles={"main": "exit"})
    recs, granted = g.tap(LI.card, lockdown=True)
    assert not granted and types(recs) == ["quarantine_exit", "access_refused"]


# --- outing quota --------------------------------------------------------------------------------
def test_calendar_quota_one_outing_per_two_local_days_for_the_household():
    s = RulesSettings(tz=SH, exit_quota=1, quota_period_days=2, quota_anchor=datetime(2026, 11, 30).date(),
                      reader_roles={"out": "exit", "in": "entry"})
    g = Gate(s)
    assert outcome(g.tap(LI.card, "out")[0]) == ("access_granted", None)
    g.tap(LI.card, "in")
    recs, granted = g.tap(LI_WIFE.card, "out")  # same household, same period
    assert not granted and outcome(recs) == ("access_refused", "quota_exceeded")
    assert (recs[-1].fields["quota"], recs[-1].fields["used"]) == (1, 1)
    assert outcome(g.tap(VISITOR.card, "out")[0]) == ("access_granted", None)  # not an outing type
    # The period is Mon 00:00 - Wed 00:00 local: 1 ms before Wednesday still refused, at midnight allowed.
    g.wall = datetime(2026, 12, 2, 0, 0, tzinfo=SH).astimezone(timezone.utc) - MS
    assert outcome(g.tap(LI_WIFE.card, "out")[0]) == ("access_refused", "quota_exceeded")
    g.wall += MS
    assert outcome(g.tap(LI_WIFE.card, "out")[0]) == ("access_granted", None)


def test_rolling_quota_frees_exactly_one_period_after_the_outing():
    s = RulesSettings(tz=SH, exit_quota=2, quota_period_days=1, quota_window="rolling", reader_roles={"main": "exit"})
    g = Gate(s)
    first = g.wall
    assert g.tap(LI.card)[1]
    g.advance(hours=1)
    assert g.tap(LI_WIFE.card)[1]
    g.wall = first + timedelta(days=1) - MS
    assert outcome(g.tap(LI.card)[0]) == ("access_refused", "quota_exceeded")
    g.wall = first + timedelta(days=1)
    assert outcome(g.tap(LI.card)[0]) == ("access_granted", None)


def test_refused_or_locked_down_taps_do_not_use_the_quota():
    s = RulesSettings(tz=SH, exit_quota=1, reader_roles={"main": "exit"})
    g = Gate(s)
    assert outcome(g.tap(LI.card, lockdown=True)[0]) == ("access_refused", "lockdown")
    assert outcome(g.tap(LI.card)[0]) == ("access_granted", None)


# --- anti-passback -------------------------------------------------------------------------------
def test_hard_anti_passback_refuses_a_second_entry():
    g = Gate(anti_passback="hard", reader_roles={"in": "entry", "out": "exit"})
    assert g.tap(WORKER.card, "in")[1]
    recs, granted = g.tap(WORKER.card, "in")
    assert not granted and outcome(recs) == ("access_refused", "anti_passback")
    assert g.tap(WORKER.card, "out")[1]
    assert outcome(g.tap(WORKER.card, "out")[0]) == ("access_refused", "anti_passback")


def test_soft_anti_passback_grants_and_logs():
    g = Gate(anti_passback="soft", reader_roles={"in": "entry"})
    g.tap(WORKER.card, "in")
    recs, granted = g.tap(WORKER.card, "in")
    assert granted and types(recs)[:2] == ["anti_passback_violation", "access_granted"]
    assert recs[0].fields["card"] == WORKER.card


# --- schedules -----------------------------------------------------------------------------------
def test_worker_outside_hours_is_refused_entry_but_may_leave():
    s = RulesSettings(tz=SH, schedules={"worker": WeeklySchedule.parse(["mon-fri 08:00-18:00"])},
                      reader_roles={"in": "entry", "out": "exit"})
    g = Gate(s)
    assert g.tap(WORKER.card, "in")[1]  # Monday 10:00
    g.wall = datetime(2026, 11, 30, 18, 0, tzinfo=SH).astimezone(timezone.utc)
    assert outcome(g.tap(WORKER.card, "in")[0]) == ("access_refused", "outside_hours")
    assert g.tap(WORKER.card, "out")[1]
    assert g.tap(LI.card, "in")[1]  # residents have no schedule


# --- unknown cards -------------------------------------------------------------------------------
def test_unknown_card_repeated_raises_one_alarm_per_burst():
    g = Gate(unknown_card_attempts=3, unknown_card_window_seconds=60)
    for _ in range(2):
        recs, _ = g.tap("DEADBEEF")
        assert types(recs) == ["access_refused"] and recs[0].fields["card"] == "DEADBEEF"
        g.advance(29)
    recs, _ = g.tap("DEADBEEF")
    assert types(recs) == ["unknown_card_repeated", "access_refused"]
    assert recs[0].fields["attempts"] == 3
    assert types(g.tap("DEADBEEF")[0]) == ["access_refused"]  # counting restarts after the alarm


def test_unknown_card_attempts_spread_beyond_the_window_raise_nothing():
    g = Gate(unknown_card_attempts=2, unknown_card_window_seconds=60)
    g.tap("DEADBEEF")
    g.advance(60)
    assert types(g.tap("DEADBEEF")[0]) == ["access_refused"]
    assert types(g.tap("01020304")[0]) == ["access_refused"]  # another card counts on its own


# --- overdue -------------------------------------------------------------------------------------
def test_overdue_alarm_at_the_limit_once_then_returned():
    g = Gate(outing_limit_seconds=1800, reader_roles={"out": "exit", "in": "entry"})
    g.tap(LI.card, "out")
    assert g.rules.next_deadline() == g.mono + 1800
    g.advance(1799.999)
    assert g.tick() == []
    g.advance(0.001)
    alarms = g.tick()
    assert types(alarms) == ["overdue"] and alarms[0].fields["card"] == LI.card
    assert alarms[0].fields["limit_minutes"] == 30
    g.advance(3600)
    assert g.tick() == [] and g.rules.next_deadline() is None
    recs, _ = g.tap(LI.card, "in")
    assert "overdue_returned" in types(recs)


def test_returning_in_time_cancels_and_wall_jumps_do_not_move_the_timer():
    g = Gate(outing_limit_seconds=1800, reader_roles={"out": "exit", "in": "entry"})
    g.tap(LI.card, "out")
    g.wall += timedelta(hours=5)  # an NTP step: the monotonic timer is unaffected
    assert g.tick() == []
    g.advance(600)
    g.tap(LI.card, "in")
    g.advance(3600)
    assert g.tick() == [] and g.rules.next_deadline() is None


def test_state_write_failure_is_reported_not_raised():
    class Broken:
        def presence(self, card):
            return None

        def outings_since(self, household, since):
            return 0

        def record_passage(self, *a, **k):
            raise StorageError("rules.db: disk I/O error")

    g = Gate(state=Broken(), reader_roles={"main": "exit"})
    recs, granted = g.tap(LI.card)
    assert granted and types(recs) == ["access_granted", "device_fault"]
    assert recs[1].fields["device"] == "rules_state"


def test_rules_off_by_default_grant_like_the_pass_check():
    g = Gate()
    for card in (LI.card, LI.card, LI_WIFE.card, WORKER.card, VISITOR.card):
        assert g.tap(card)[1]
    assert g.tick() == [] and g.rules.next_deadline() is None


def test_reload_changes_the_outing_limit_of_open_outings():
    from dataclasses import replace

    g = Gate(outing_limit_seconds=3600, reader_roles={"out": "exit"})
    g.tap(LI.card, "out")
    g.advance(1000)
    g.rules.apply_settings(replace(g.settings, outing_limit_seconds=1200, exit_quota=0))
    assert g.tick() == [] and g.rules.next_deadline() == g.mono + 200
    g.advance(200)
    assert types(g.tick()) == ["overdue"]
