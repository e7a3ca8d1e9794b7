"""Fever policy, alone and end to end: emulated chip → real driver → sampler → screening → verdict."""
from __future__ import annotations

import threading

import pytest

from drivers.mlx90614 import Mlx90614
from drivers.mlx90614_emu import EmulatedMlx90614
from drivers.thermo_sampler import ThermometerSampler
from gate.clock import FakeClock
from gate.core.screening import Measurement, Screening, ScreeningSettings
from gate.core.screening_policy import ScreeningPolicy, Verdict, consistency_problems

ENFORCE = ScreeningPolicy()


# -- the policy alone ---------------------------------------------------------------------------

@pytest.mark.parametrize("temp, outcome", [(36.6, "pass"), (37.29, "pass"), (37.3, "refuse"), (39.5, "refuse")])
def test_threshold_is_at_or_above(temp, outcome):
    v = ENFORCE.judge(Measurement("reading", temp))
    assert v.outcome == outcome and v.temperature_c == temp
    if outcome == "refuse":
        assert (v.reason, v.alarm, v.signal_guard) == ("fever", "fever", True)
    else:
        assert (v.reason, v.alarm) == (None, None)


def test_log_only_passes_a_fever_with_the_alarm():
    v = ScreeningPolicy(mode="log-only").judge(Measurement("reading", 38.2))
    assert (v.outcome, v.reason, v.alarm, v.temperature_c) == ("pass", "fever", "fever", 38.2)
    assert not v.signal_guard


def test_off_passes_everything_without_a_temperature():
    off = ScreeningPolicy(mode="off")
    for m in (Measurement("reading", 39.0), Measurement("fault"), Measurement("pending", final=False)):
        assert off.judge(m) == Verdict("pass", detail="screening off")


@pytest.mark.parametrize("kind", ["no_person", "too_cold", "implausible"])
def test_no_good_reading_retests_then_is_unavailable(kind):
    assert ENFORCE.judge(Measurement(kind, final=False)).outcome == "retest"
    v = ENFORCE.judge(Measurement(kind, final=True))
    assert (v.outcome, v.reason, v.signal_guard, v.temperature_c) == ("refuse", "screening_unavailable", True, None)


def test_pending_waits():
    v = ENFORCE.judge(Measurement("pending", final=False))
    assert v.outcome == "wait" and not v.final


@pytest.mark.parametrize("mode, unavailable, outcome, guard", [
    ("enforce", "refuse", "refuse", True),
    ("enforce", "grant", "pass", True),
    ("log-only", "refuse", "pass", False),
])
def test_fault_is_screening_unavailable_never_a_temperature(mode, unavailable, outcome, guard):
    v = ScreeningPolicy(mode=mode, unavailable=unavailable).judge(Measurement("fault", detail="PEC mismatch"))
    assert (v.outcome, v.reason, v.signal_guard) == (outcome, "screening_unavailable", guard)
    assert v.temperature_c is None and v.alarm is None and "PEC mismatch" in v.detail


def test_policy_reports_every_problem():
    with pytest.raises(ValueError) as exc:
        ScreeningPolicy(mode="strict", fever_threshold_c=30.0, unavailable="maybe")
    keys = [line.split(":")[0] for line in str(exc.value).splitlines()]
    assert keys == ["screening.mode", "screening.fever_threshold_c", "screening.unavailable_policy"]


def test_threshold_outside_the_plausible_range_is_inconsistent():
    assert consistency_problems(ScreeningSettings(), ENFORCE) == []
    problems = consistency_problems(ScreeningSettings(plausible_max_c=37.0), ENFORCE)
    assert problems and problems[0].startswith("screening.fever_threshold_c:")


# -- end to end through the real driver and the emulator ---------------------------------------

class Rig:
    """The daemon's wiring in miniature: callbacks stamp samples with the (fake) monotonic clock."""

    def __init__(self, policy=ENFORCE, settings=ScreeningSettings(window_before_s=1.0), stuck_samples=8):
        self.clock = FakeClock()
        self.emu = EmulatedMlx90614(ambient_c=22.0, noise_c=0.05, seed=7)
        self.sensor = Mlx90614(self.emu, retry_delay=0)
        self.screening = Screening(settings, lock=threading.Lock())  # as the daemon wires it
        self.policy = policy
        self.device_faults: list[str] = []
        self.sampler = ThermometerSampler(
            self.sensor, stuck_samples=stuck_samples, fault_threshold=3,
            on_sample=lambda o, a: self.screening.add_sample(o, a, self.clock.monotonic()),
            on_fault=self._fault, on_recovered=lambda: None)

    def _fault(self, detail):
        self.device_faults.append(detail)          # the daemon journals device_fault here
        self.screening.add_fault(detail, self.clock.monotonic())

    def run(self, seconds, rate_hz=4.0):
        for _ in range(round(seconds * rate_hz)):
            self.clock.advance(1 / rate_hz)
            self.sampler.sample_once()

    def tap(self) -> list[Verdict]:
        """Tap now; re-judge after every sample until final or the deadline, like the daemon."""
        tap = self.clock.monotonic()
        verdicts = [self.policy.judge(self.screening.assess(tap, tap))]
        while not verdicts[-1].final:
            self.run(0.25)
            verdicts.append(self.policy.judge(self.screening.assess(tap, self.clock.monotonic())))
            assert self.clock.monotonic() <= self.screening.deadline(tap) + 0.25
        return verdicts


def test_normal_temperature_passes():
    rig = Rig()
    rig.emu.object_c = 36.6
    rig.run(2)
    v = rig.tap()[-1]
    assert v.outcome == "pass" and v.temperature_c == pytest.approx(36.6, abs=0.1)
    assert not rig.device_faults


@pytest.mark.parametrize("temp", [37.3, 38.1])
def test_fever_refuses_with_alarm(temp):
    rig = Rig(stuck_samples=0)   # exact value: no noise, and a noise-free sensor would look stuck
    rig.emu.noise_c = 0.0
    rig.emu.object_c = temp
    rig.run(2)
    v = rig.tap()[-1]
    assert (v.outcome, v.reason, v.alarm) == ("refuse", "fever", "fever")
    assert v.temperature_c >= 37.3


def test_tap_then_look_retests_then_passes():
    rig = Rig()
    rig.run(2)                                     # nobody in front before the tap
    tap = rig.clock.monotonic()
    first = rig.policy.judge(rig.screening.assess(tap, tap))
    assert first.outcome == "retest"
    rig.emu.object_c = 36.7                       # the resident steps up to the sensor
    rig.run(1)
    v = rig.policy.judge(rig.screening.assess(tap, rig.clock.monotonic()))
    assert v.outcome == "pass" and v.temperature_c == pytest.approx(36.7, abs=0.1)


def test_nobody_in_front_never_passes():
    rig = Rig()
    rig.run(2)
    verdicts = rig.tap()
    assert {v.outcome for v in verdicts[:-1]} == {"retest"}
    assert (verdicts[-1].outcome, verdicts[-1].reason) == ("refuse", "screening_unavailable")


@pytest.mark.parametrize("fault", ["corrupt_pec", "nack", "error_flag", "stuck"])
def test_sensor_faults_never_pass_in_enforce_and_raise_device_fault(fault):
    rig = Rig()
    rig.emu.object_c = 36.6
    rig.run(2)
    setattr(rig.emu, fault, True)
    rig.run(3)                                     # long enough for threshold / stuck detection
    verdicts = rig.tap()
    assert all(v.outcome != "pass" for v in verdicts)
    assert (verdicts[-1].outcome, verdicts[-1].reason) == ("refuse", "screening_unavailable")
    assert verdicts[-1].signal_guard and verdicts[-1].temperature_c is None
    assert len(rig.device_faults) == 1


def test_transient_nack_does_not_disturb_screening():
    rig = Rig()
    rig.emu.object_c = 36.6
    rig.emu.nack = 2                               # absorbed by the driver's retries
    rig.run(2)
    assert rig.tap()[-1].outcome == "pass" and not rig.device_faults


def test_log_only_fever_passes_with_alarm_through_the_stack():
    rig = Rig(policy=ScreeningPolicy(mode="log-only"))
    rig.emu.object_c = 38.4
    rig.run(2)
    v = rig.tap()[-1]
    assert (v.outcome, v.alarm) == ("pass", "fever") and v.temperature_c == pytest.approx(38.4, abs=0.1)


def test_log_only_fault_is_recorded_as_unavailable_not_as_a_temperature():
    rig = Rig(policy=ScreeningPolicy(mode="log-only"))
    rig.emu.object_c = 36.6
    rig.emu.corrupt_pec = True
    rig.run(2)
    v = rig.tap()[-1]
    assert (v.outcome, v.reason, v.temperature_c) == ("pass", "screening_unavailable", None)
