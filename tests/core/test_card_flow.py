"""The card path through the pure core: pass checks, lockdown, clone cards, temperature screening."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.core.access import PassRules
from gate.core.actions import DriveLock, Record, Signal
from gate.core.machine import CoreSettings, GateCore
from gate.core.events import CardPresented, DeviceHealth, RemoteCommand, TemperatureSample, Tick
from gate.core.passes import make_pass
from gate.core.screening import Screening, ScreeningSettings
from gate.core.screening_flow import ScreeningGate
from gate.core.screening_policy import ScreeningPolicy

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


class DictPasses:
    def __init__(self, *passes):
        self.by_card = {p.card: p for p in passes}

    def get(self, card):
        return self.by_card.get(card)


def passes():
    return DictPasses(
        make_pass("DEADBEEF", "Wang Li", "3-201"),
        make_pass("11111111", "Old Pass", valid_until=NOW - timedelta(days=1)),
        make_pass("22222222", "Future Pass", valid_from=NOW + timedelta(days=1)),
        make_pass("33333333", "Revoked"),
    )


def core(screening_mode="off", **settings):
    store = passes()
    store.by_card["33333333"] = store.by_card["33333333"].__class__(
        **{**store.by_card["33333333"].__dict__, "revoked_at": NOW - timedelta(hours=1)}
    )
    gate = ScreeningGate(Screening(ScreeningSettings(**settings)), ScreeningPolicy(mode=screening_mode))
    return GateCore(CoreSettings(), PassRules(store), screening=gate)


def records(actions):
    return [(a.type, a.fields) for a in actions if isinstance(a, Record)]


def test_valid_pass_is_granted_and_releases_the_lock():
    actions = core().handle(CardPresented("DEADBEEF", 10.0), NOW)
    assert records(actions)[0] == ("access_granted", {"card": "DEADBEEF", "reader": "main", "name": "Wang Li",
                                                      "household": "3-201"})
    assert DriveLock(True) in actions and Signal("granted") in actions
    # Records come before the relay moves.
    assert actions.index(DriveLock(True)) > max(i for i, a in enumerate(actions) if isinstance(a, Record))


@pytest.mark.parametrize("card,reason", [
    ("0BADCAFE", "unknown_card"),
    ("11111111", "expired"),
    ("22222222", "not_yet_valid"),
    ("33333333", "revoked"),
])
def test_refusals_carry_their_reason_and_never_move_the_lock(card, reason):
    actions = core().handle(CardPresented(card, 10.0), NOW)
    (rtype, fields), = records(actions)
    assert rtype == "access_refused" and fields["reason"] == reason and fields["card"] == card
    assert not any(isinstance(a, DriveLock) for a in actions)
    assert Signal("refused") in actions


def test_validity_edges_are_exact():
    p = make_pass("DEADBEEF", "Edge", valid_from=NOW, valid_until=NOW + timedelta(hours=1))
    c = GateCore(CoreSettings(), PassRules(DictPasses(p)))
    assert records(c.handle(CardPresented("DEADBEEF", 1.0), NOW))[0][0] == "access_granted"
    c = GateCore(CoreSettings(), PassRules(DictPasses(p)))
    late = records(c.handle(CardPresented("DEADBEEF", 1.0), NOW + timedelta(hours=1)))
    assert late[0] == ("access_refused", {"card": "DEADBEEF", "reader": "main", "name": "Edge",
                                          "household": None, "reason": "expired"})
    early = records(c.handle(CardPresented("DEADBEEF", 1.0), NOW - timedelta(microseconds=1)))
    assert early[0][1]["reason"] == "not_yet_valid"


def test_lockdown_refuses_valid_passes():
    c = core()
    c.handle(RemoteCommand("lockdown", {"on": True}, at=1.0), NOW)
    assert c.snapshot()["mode"] == "lockdown"
    (rtype, fields), = records(c.handle(CardPresented("DEADBEEF", 2.0), NOW))
    assert (rtype, fields["reason"]) == ("access_refused", "lockdown")


def test_magic_card_is_refused_with_an_alarm_even_when_registered():
    actions = core().handle(CardPresented("DEADBEEF", 1.0, magic=True), NOW)
    assert [t for t, _ in records(actions)] == ["forged_credential", "access_refused"]
    assert records(actions)[1][1]["reason"] == "forged_credential"
    assert not any(isinstance(a, DriveLock) for a in actions)


def test_bad_credential_block_is_refused():
    actions = core().handle(CardPresented("DEADBEEF", 1.0, credential_ok=False), NOW)
    assert [t for t, _ in records(actions)] == ["forged_credential", "access_refused"]


# --- screening --------------------------------------------------------------------------------

def feed(c, celsius, start, n=3, step=0.25, ambient=22.0):
    out = []
    for i in range(n):
        out += c.handle(TemperatureSample(celsius, ambient, start + i * step), NOW)
    return out


def test_normal_temperature_grants_with_the_temperature_recorded():
    c = core("enforce")
    assert c.handle(CardPresented("DEADBEEF", 10.0), NOW) == []  # waits for samples
    actions = feed(c, 36.6, 10.1)
    (rtype, fields), = records(actions)
    assert rtype == "access_granted" and fields["temperature_c"] == 36.6
    assert DriveLock(True) in actions


@pytest.mark.parametrize("celsius", [37.3, 38.1])
def test_fever_at_or_above_threshold_refuses_with_an_alarm(celsius):
    c = core("enforce")
    c.handle(CardPresented("DEADBEEF", 10.0), NOW)
    actions = feed(c, celsius, 10.1)
    types = records(actions)
    assert types[0] == ("fever", {"card": "DEADBEEF", "reader": "main", "temperature_c": celsius, "mode": "enforce"})
    assert types[1][0] == "access_refused" and types[1][1]["reason"] == "fever"
    assert Signal("fever") in actions and not any(isinstance(a, DriveLock) for a in actions)


def test_log_only_grants_a_fever_and_still_alarms():
    c = core("log-only")
    c.handle(CardPresented("DEADBEEF", 10.0), NOW)
    types = [t for t, _ in records(feed(c, 38.5, 10.1))]
    assert types == ["fever", "access_granted"]


def test_nobody_in_front_asks_for_a_retest_then_refuses_at_the_deadline():
    c = core("enforce")
    c.handle(CardPresented("DEADBEEF", 10.0), NOW)
    actions = feed(c, 22.5, 10.1)  # object ≈ ambient: nobody in front
    assert Signal("retest") in actions and records(actions) == []
    assert c.next_deadline() == pytest.approx(14.0)
    final = c.handle(Tick(14.0), NOW)
    (rtype, fields), = records(final)
    assert (rtype, fields["reason"]) == ("access_refused", "screening_unavailable")
    assert fields["guard_attention"] is True


def test_a_sensor_fault_is_never_a_normal_temperature():
    c = core("enforce")
    feed(c, 36.6, 9.0)
    c.handle(DeviceHealth("thermometer", False, 9.9, "PEC mismatch"), NOW)
    actions = c.handle(CardPresented("DEADBEEF", 10.0), NOW) + feed(c, 36.6, 10.1) + c.handle(Tick(14.0), NOW)
    assert ("device_fault", {"device": "thermometer", "detail": "PEC mismatch"}) not in records(actions)
    refusals = [f for t, f in records(actions) if t == "access_refused"]
    assert refusals and refusals[0]["reason"] == "screening_unavailable"
    assert not any(isinstance(a, DriveLock) for a in actions)


def test_samples_from_before_the_tap_do_not_count_by_default():
    c = core("enforce")
    feed(c, 36.6, 9.0, n=4)  # the previous resident
    c.handle(CardPresented("DEADBEEF", 10.0), NOW)
    actions = feed(c, 38.4, 10.1)
    assert [t for t, _ in records(actions)] == ["fever", "access_refused"]


def test_exits_skip_screening_when_configured():
    class ExitRules(PassRules):
        def decide(self, card, reader, wall, mono, direction=None):
            d = super().decide(card, reader, wall, mono, direction)
            return d.__class__(d.granted, d.reason, {**d.fields, "direction": "exit"})

    gate = ScreeningGate(Screening(ScreeningSettings()), ScreeningPolicy(mode="enforce"))
    screened = GateCore(CoreSettings(), ExitRules(passes()), screening=gate)
    assert screened.handle(CardPresented("DEADBEEF", 10.0), NOW) == []  # waits for a temperature
    gate = ScreeningGate(Screening(ScreeningSettings()), ScreeningPolicy(mode="enforce"))
    unscreened = GateCore(CoreSettings(screen_exits=False), ExitRules(passes()), screening=gate)
    (rtype, fields), = records(unscreened.handle(CardPresented("DEADBEEF", 10.0), NOW))
    assert rtype == "access_granted" and fields["direction"] == "exit" and "temperature_c" not in fields


def test_lockdown_that_starts_during_screening_refuses_the_pending_tap():
    c = core("enforce")
    c.handle(CardPresented("DEADBEEF", 10.0), NOW)
    c.handle(RemoteCommand("lockdown", {"on": True}, at=10.05), NOW)
    actions = feed(c, 36.6, 10.1)
    (rtype, fields), = records(actions)
    assert (rtype, fields["reason"]) == ("access_refused", "lockdown")
    assert not any(isinstance(a, DriveLock) for a in actions)
