"""The pure screening core: classification, window, median, offset, faults, with a fake clock."""
from __future__ import annotations

import pytest

from gate.core.screening import Measurement, Screening, ScreeningSettings, classify

AMBIENT = 22.0
S = ScreeningSettings(window_before_s=1.0)  # a 1 s look-back, 4 s after, 3 samples, margin 2, offset 0


def feed(screening, clock, temps, step=0.25, ambient=AMBIENT):
    """One sample per step on the fake clock (the sampler at 4 Hz)."""
    for t in temps:
        clock.advance(step)
        screening.add_sample(t, ambient, clock.monotonic())


# -- one sample ---------------------------------------------------------------------------------

@pytest.mark.parametrize("obj, amb, expected", [
    (36.6, 22.0, "valid"),
    (22.1, 22.0, "no_person"),            # the wall behind
    (23.99, 22.0, "no_person"),           # just under the presence margin
    (24.0, 22.0, "no_person"),            # margin met but below the skin range
    (36.0, 34.5, "no_person"),            # hot day: a forehead cannot be told from the air
    (34.9, 22.0, "too_cold"),             # cold forehead or too far away
    (35.0, 22.0, "valid"),                # plausible range is inclusive
    (42.5, 22.0, "valid"),
    (42.6, 22.0, "implausible"),
    (60.0, 22.0, "implausible"),          # a cup of tea
])
def test_classify(obj, amb, expected):
    assert classify(obj, amb, S) == expected


def test_offset_moves_the_plausible_range():
    s = ScreeningSettings(offset_c=1.5)
    assert classify(34.0, 22.0, s) == "valid"        # 35.5 body
    assert classify(33.4, 22.0, s) == "too_cold"     # 34.9 body
    assert classify(41.1, 22.0, s) == "implausible"  # 42.6 body


# -- window and median --------------------------------------------------------------------------

def test_median_of_valid_samples_with_offset(fake_clock):
    sc = Screening(ScreeningSettings(offset_c=0.8))
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.0, 22.1, 36.4, 41.0, 36.2])   # one absent, one hot outlier
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "reading" and m.final
    assert m.temperature_c == pytest.approx(36.3 + 0.8)    # median of 36.0 36.2 36.4 41.0
    assert (m.samples, m.valid) == (5, 4)
    assert m.ambient_c == AMBIENT


def test_decides_as_soon_as_min_samples_are_valid(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5, 36.7])
    assert sc.assess(tap, fake_clock.monotonic()).kind == "pending"
    feed(sc, fake_clock, [36.6])
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "reading" and m.temperature_c == 36.6
    assert fake_clock.monotonic() < sc.deadline(tap)


def test_window_edges_are_inclusive_and_nothing_outside_counts(fake_clock):
    sc = Screening(S)
    tap = 2000.0
    before, deadline = tap - S.window_before_s, sc.deadline(tap)
    sc.add_sample(39.0, AMBIENT, before - 0.01)         # too early: someone else's forehead
    sc.add_sample(36.1, AMBIENT, before)                # first instant of the window
    sc.add_sample(36.3, AMBIENT, tap + 1.0)
    sc.add_sample(36.2, AMBIENT, deadline)              # last instant of the window
    sc.add_sample(39.0, AMBIENT, deadline + 0.01)       # too late
    m = sc.assess(tap, deadline + 5.0)
    assert m.kind == "reading" and m.samples == 3 and m.temperature_c == 36.2


def test_samples_after_now_are_not_used(fake_clock):
    sc = Screening(S)
    tap = 2000.0
    for dt in (0.0, 0.25, 0.5):
        sc.add_sample(36.5, AMBIENT, tap + dt)
    assert sc.assess(tap, tap + 0.3).kind == "pending"   # the third is still in the future


def test_pre_tap_samples_count_when_already_in_front(fake_clock):
    sc = Screening(S)
    feed(sc, fake_clock, [36.4, 36.5, 36.6])
    tap = fake_clock.monotonic()
    assert sc.assess(tap, tap).kind == "reading"


# -- no good reading ----------------------------------------------------------------------------

def test_nobody_in_front_is_no_person_then_final_at_deadline(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [21.7] * 4)
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "no_person" and not m.final and m.temperature_c is None
    feed(sc, fake_clock, [21.7] * 12)
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "no_person" and m.final and "by the deadline" in m.detail


def test_too_cold_wins_over_no_person(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [21.7, 21.7, 33.0, 33.2, 21.7, 21.7])
    assert sc.assess(tap, fake_clock.monotonic()).kind == "too_cold"


def test_two_valid_samples_are_not_enough(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5, 36.6] + [21.7] * 20)
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "no_person" and m.final and m.valid == 2


def test_silent_sensor_by_the_deadline_is_a_fault_not_no_person(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [21.7, 21.7])
    fake_clock.advance(10)
    m = sc.assess(tap, fake_clock.monotonic())
    assert m.kind == "fault" and m.final and "stalled" in m.detail


# -- faults -------------------------------------------------------------------------------------

def test_open_fault_makes_any_tap_a_fault(fake_clock):
    sc = Screening(S)
    sc.add_fault("thermometer: no answer", fake_clock.monotonic())
    fake_clock.advance(60)
    tap = fake_clock.monotonic()
    m = sc.assess(tap, tap)
    assert m.kind == "fault" and m.final and "no answer" in m.detail
    assert sc.is_faulted


def test_fault_inside_window_taints_samples_taken_before_it(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5, 36.5])
    sc.add_fault("thermometer: stuck", fake_clock.monotonic())
    feed(sc, fake_clock, [36.6, 36.7, 36.5])               # recovered, but too late to trust
    assert sc.assess(tap, fake_clock.monotonic()).kind == "fault"
    assert not sc.is_faulted


def test_fault_that_ended_before_the_window_does_not_matter(fake_clock):
    sc = Screening(S)
    sc.add_fault("thermometer: no answer", fake_clock.monotonic())
    feed(sc, fake_clock, [21.7] * 20)                       # back for 5 s
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5, 36.6, 36.7])
    assert sc.assess(tap, fake_clock.monotonic()).kind == "reading"


def test_fault_after_the_deadline_does_not_change_a_past_tap(fake_clock):
    sc = Screening(S)
    tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5, 36.6, 36.7])
    fake_clock.advance(S.window_after_s)
    sc.add_fault("thermometer: no answer", fake_clock.monotonic())
    assert sc.assess(tap, fake_clock.monotonic()).kind == "reading"


# -- housekeeping -------------------------------------------------------------------------------

def test_old_samples_are_dropped(fake_clock):
    sc = Screening(S)
    old_tap = fake_clock.monotonic()
    feed(sc, fake_clock, [36.5] * 3)
    feed(sc, fake_clock, [21.7] * 200)                      # 50 s later
    assert sc.assess(old_tap, fake_clock.monotonic()).kind == "fault"   # nothing kept: not a pass


def test_settings_report_every_problem_with_its_key():
    with pytest.raises(ValueError) as exc:
        ScreeningSettings(window_after_s=0.0, min_samples=0, plausible_min_c=43.0, offset_c=9.0)
    lines = str(exc.value).splitlines()
    assert {line.split(":")[0] for line in lines} == {
        "screening.window_after_s", "screening.min_samples", "screening.plausible_min_c", "screening.offset_c"}
    with pytest.raises(ValueError, match="screening.min_samples: must be a whole number"):
        ScreeningSettings(min_samples=2.5)


def test_measurement_is_frozen():
    m = Measurement("reading", 36.6)
    with pytest.raises(AttributeError):
        m.kind = "fault"  # type: ignore[misc]


def test_sample_rate_must_fill_the_window():
    from gate.core.screening import rate_problems
    assert rate_problems(S, 4.0) == []
    problems = rate_problems(S, 1.0)
    assert len(problems) == 1 and problems[0].startswith("hardware.thermometer.sample_hz:")
