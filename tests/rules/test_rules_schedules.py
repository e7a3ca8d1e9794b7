"""Weekly windows: syntax, inclusive start / exclusive end, across midnight and across the week's end."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gate.rules.schedules import WeeklySchedule

SH = ZoneInfo("Asia/Shanghai")


def local(y, mo, d, h, mi, s=0, us=0):
    return datetime(y, mo, d, h, mi, s, us, tzinfo=SH)


# 2026-11-30 is a Monday.
def test_window_edges_start_inclusive_end_exclusive():
    s = WeeklySchedule.parse(["mon-fri 07:00-19:00"])
    assert not s.allows(local(2026, 11, 30, 6, 59, 59, 999000), SH)
    assert s.allows(local(2026, 11, 30, 7, 0), SH)
    assert s.allows(local(2026, 11, 30, 18, 59, 59, 999000), SH)
    assert not s.allows(local(2026, 11, 30, 19, 0), SH)
    assert not s.allows(local(2026, 12, 5, 12, 0), SH)  # Saturday


def test_window_across_midnight_belongs_to_its_start_day():
    s = WeeklySchedule.parse(["fri 22:00-06:00"])
    assert not s.allows(local(2026, 12, 4, 21, 59, 59), SH)
    assert s.allows(local(2026, 12, 4, 22, 0), SH)
    assert s.allows(local(2026, 12, 5, 0, 0), SH)  # Saturday 00:00
    assert s.allows(local(2026, 12, 5, 5, 59, 59), SH)
    assert not s.allows(local(2026, 12, 5, 6, 0), SH)
    assert not s.allows(local(2026, 12, 4, 3, 0), SH)  # Friday early morning is Thursday's night: not given


def test_sunday_night_wraps_into_monday():
    s = WeeklySchedule.parse(["sun 23:00-01:00"])
    assert s.allows(local(2026, 12, 6, 23, 30), SH)
    assert s.allows(local(2026, 12, 7, 0, 59, 59), SH)  # Monday
    assert not s.allows(local(2026, 12, 7, 1, 0), SH)
    assert s.allows(local(2026, 11, 30, 0, 30), SH)  # the same wrap, the week before


def test_daily_full_day_ranges_and_lists():
    assert WeeklySchedule.parse(["daily 00:00-24:00"]).allows(local(2026, 12, 6, 23, 59, 59), SH)
    s = WeeklySchedule.parse(["sat,sun 09:00-12:00", "fri-mon 20:00-21:00"])
    assert s.allows(local(2026, 12, 6, 10, 0), SH) and not s.allows(local(2026, 12, 2, 10, 0), SH)
    assert s.allows(local(2026, 11, 30, 20, 30), SH) and not s.allows(local(2026, 12, 1, 20, 30), SH)
    assert WeeklySchedule.parse([]).allows(local(2026, 12, 1, 3, 0), SH)


def test_utc_moment_is_read_in_the_gate_time_zone():
    s = WeeklySchedule.parse(["mon 07:00-08:00"])
    assert s.allows(datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc), SH)  # Mon 07:30 in Shanghai
    assert not s.allows(datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc), SH)


@pytest.mark.parametrize(
    "window, message",
    [
        ("mon-fri 7-19", "expected 'DAYS HH:MM-HH:MM'"),
        ("mon-fry 07:00-19:00", "days 'mon-fry'"),
        ("mon 24:00-02:00", "start '24:00'"),
        ("mon 07:60-08:00", "start '07:60'"),
        ("mon 07:00-24:30", "end '24:30'"),
    ],
)
def test_bad_windows_are_named(window, message):
    with pytest.raises(ValueError, match=f"window {window!r}: .*{message}" if "expected" not in message else message):
        WeeklySchedule.parse([window])
