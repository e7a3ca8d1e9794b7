"""The pure door/lock state machine and the core's safety policy, on explicit monotonic times."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gate.core.access import PassRules
from gate.core.actions import DriveLock, Grant, Record, SetLockdown, Signal
from gate.core.alarms import ClearAlarm
from gate.core.machine import CoreSettings, GateCore
from gate.core.door import DoorSettings, DoorStateMachine
from gate.core.events import AlarmAcknowledged, DeviceHealth, DoorChanged, ExitPressed, FireChanged, RemoteCommand, TamperChanged, Tick

WALL = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
S = DoorSettings(unlock_seconds=5, exit_unlock_seconds=5, held_open_seconds=30, prealarm_seconds=10,
                 debounce_seconds=0.15)


def types(actions):
    return [a.type for a in actions if isinstance(a, Record)]


class NoPasses:
    def get(self, card):
        return None


def core(**kw):
    return GateCore(CoreSettings(door=DoorSettings(**{**S.__dict__, **kw})), PassRules(NoPasses()))


def run(c, until, start, step=0.05):
    """Tick the core like the daemon loop does, collecting (time, action)."""
    out = []
    t = start
    while t <= until + 1e-9:
        out += [(t, a) for a in c.handle(Tick(t), WALL)]
        t += step
    return out


# --- debounce and forced opening -----------------------------------------------------------------

def test_bounce_shorter_than_debounce_is_ignored():
    d = DoorStateMachine(S)
    assert d.door_changed(True, 10.0) == []
    assert d.door_changed(False, 10.1) == []  # back within 150 ms
    assert d.tick(11.0) == [] and d.door_state == "closed"


def test_opening_longer_than_debounce_is_forced_and_dated_from_its_start():
    d = DoorStateMachine(S)
    d.door_changed(True, 10.0)
    assert d.next_deadline() == pytest.approx(10.15)
    actions = d.tick(10.15)
    assert types(actions) == ["forced_open", "door_opened"] and Signal("alarm") in actions


def test_opening_longer_than_debounce_is_not_lost_when_the_close_arrives_before_a_tick():
    d = DoorStateMachine(S)
    d.door_changed(True, 10.0)
    actions = d.door_changed(False, 10.2)  # no tick in between (busy loop)
    assert types(actions) == ["forced_open", "door_opened"]
    assert types(d.tick(10.35)) == ["door_closed"]


def test_zero_debounce_reports_at_once():
    d = DoorStateMachine(DoorSettings(debounce_seconds=0))
    assert types(d.door_changed(True, 10.0)) == ["forced_open", "door_opened"]


# --- grants and relocking ------------------------------------------------------------------------

def test_unused_grant_relocks_with_an_event():
    d = DoorStateMachine(S)
    assert d.grant("card", 10.0) == [DriveLock(True)]
    assert d.tick(14.9) == []
    actions = d.tick(15.0)
    assert actions == [Record("relocked", {"cause": "grant_unused", "grant": "card"}), DriveLock(False)]


def test_relock_as_soon_as_the_door_closes_after_a_legitimate_opening():
    d = DoorStateMachine(S)
    d.grant("card", 10.0)
    d.door_changed(True, 11.0)
    assert types(d.tick(11.2)) == ["door_opened"]
    d.door_changed(False, 12.0)
    actions = d.tick(12.2)
    assert types(actions) == ["door_closed", "relocked"] and actions[-1] == DriveLock(False)
    assert d.lock_state == "locked" and d.next_deadline() is None


def test_a_grant_never_shortens_a_running_one():
    d = DoorStateMachine(S)
    d.grant("remote", 10.0, seconds=30)
    d.grant("card", 11.0)
    assert d.grant_until == 40.0


def test_door_open_at_start_is_supervised_as_held_open_not_forced():
    d = DoorStateMachine(S, door_open=True)
    assert d.tick(100.0) == []
    assert types(d.tick(130.0)) == ["held_open"]


# --- held open -----------------------------------------------------------------------------------

def test_held_open_prealarm_then_alarm_then_cleared_on_close():
    c = core()
    c.handle(ExitPressed(10.0), WALL)
    c.handle(DoorChanged(True, 10.5), WALL)
    timeline = run(c, 41.0, 10.5)
    prealarm = [t for t, a in timeline if a == Signal("prealarm")]
    held = [t for t, a in timeline if isinstance(a, Record) and a.type == "held_open"]
    assert prealarm == [pytest.approx(30.5, abs=0.06)]  # held 30 - prealarm 10 after opening
    assert held == [pytest.approx(40.5, abs=0.06)]
    assert [a["type"] for a in c.snapshot()["active_alarms"]] == ["held_open"]
    c.handle(DoorChanged(False, 42.0), WALL)
    actions = c.handle(Tick(42.2), WALL)
    assert types(actions) == ["door_closed", "alarm_cleared"] and Signal("silence") in actions
    assert c.snapshot()["active_alarms"][0]["cleared"] is True  # still listed: not acknowledged


# --- fire, lockdown, tamper, acknowledgement -----------------------------------------------------

def test_fire_release_overrides_lockdown_and_relocks_when_it_ends():
    c = core()
    c.handle(RemoteCommand("lockdown", {"on": True}, at=1.0), WALL)
    actions = c.handle(FireChanged(True, 2.0), WALL)
    assert types(actions) == ["fire_release"] and DriveLock(True) in actions
    assert c.snapshot()["mode"] == "fire" and c.snapshot()["lock"] == "unlocked"
    c.handle(DoorChanged(True, 3.0), WALL)
    assert "forced_open" not in types(run(c, 200.0, 3.0, step=1.0))  # nor held_open: evacuation
    c.handle(DoorChanged(False, 201.0), WALL)
    assert c.handle(Tick(201.2), WALL) == [Record("door_closed", {})]  # still released: fire is on
    actions = c.handle(FireChanged(False, 202.0), WALL)
    assert types(actions) == ["alarm_cleared", "relocked"] and DriveLock(False) in actions
    assert c.snapshot()["mode"] == "lockdown"


def test_lockdown_passes_overrides_and_exit_but_not_remote_unlock():
    c = core()
    c.handle(RemoteCommand("lockdown", {"on": True}, at=1.0), WALL)
    refused = c.handle(RemoteCommand("unlock", {}, at=2.0), WALL)
    assert types(refused) == ["remote_unlock", "grant_refused"] and not any(isinstance(a, DriveLock) for a in refused)
    assert DriveLock(True) in c.handle(ExitPressed(3.0), WALL)  # life safety: exit still works
    c.handle(Tick(9.0), WALL)
    assert DriveLock(True) in c._resolve([Grant("override")], 10.0)


def test_lockdown_ends_a_running_card_grant():
    c = core()
    c._resolve([Grant("card")], 1.0)
    actions = c._resolve([SetLockdown(True, "keypad")], 2.0)
    assert types(actions) == ["lockdown", "relocked"] and DriveLock(False) in actions


def test_tamper_alarm_clears_and_acknowledges():
    c = core()
    actions = c.handle(TamperChanged(True, 1.0), WALL)
    assert types(actions) == ["tamper"] and Signal("alarm") in actions
    assert c.handle(TamperChanged(True, 1.5), WALL) == [Signal("alarm")]  # same condition: no second alarm
    c.committed(type("R", (), {"type": "tamper", "fields": {"device": "enclosure"}, "seq": 7})())
    assert c.snapshot()["active_alarms"][0]["seq"] == 7
    cleared = c.handle(TamperChanged(False, 2.0), WALL)
    assert cleared[0].type == "alarm_cleared" and cleared[0].fields["alarm"] == "tamper"
    assert cleared[0].fields["alarm_seq"] == 7
    acked = c.handle(RemoteCommand("ack", {"seq": 7, "by": "officer wang"}, cmd_id="c1", at=3.0), WALL)
    assert types(acked) == ["alarm_acknowledged"]
    assert acked[0].fields == {"alarm": "tamper", "alarm_id": cleared[0].fields["alarm_id"], "alarm_seq": 7,
                               "device": "enclosure", "by": "station", "officer": "officer wang", "cmd_id": "c1"}
    assert c.snapshot()["active_alarms"] == []


def test_acknowledged_alarm_stays_listed_until_its_condition_clears():
    c = core()
    c.handle(DoorChanged(True, 1.0), WALL)
    c.handle(Tick(1.2), WALL)
    assert types(c.handle(AlarmAcknowledged(2.0, guard="g7"), WALL)) == ["alarm_acknowledged"]
    (alarm,) = c.snapshot()["active_alarms"]
    assert alarm["type"] == "forced_open" and alarm["acknowledged"] and not alarm["cleared"]
    c.handle(DoorChanged(False, 3.0), WALL)
    assert types(c.handle(Tick(3.2), WALL)) == ["door_closed", "alarm_cleared"]
    assert c.snapshot()["active_alarms"] == []


def test_station_ack_without_a_selector_acknowledges_nothing():
    c = core()
    c.handle(TamperChanged(True, 1.0), WALL)
    assert c.handle(RemoteCommand("ack", {"by": "x"}, at=2.0), WALL) == []
    assert c.handle(RemoteCommand("ack", {"seq": "bogus"}, at=2.0), WALL) == []
    assert types(c.handle(RemoteCommand("ack", {"type": "tamper"}, at=2.0), WALL)) == ["alarm_acknowledged"]


def test_device_fault_clears_on_recovery():
    c = core()
    assert types(c.handle(DeviceHealth("rfid", False, 1.0, "no answer"), WALL)) == ["device_fault"]
    assert types(c.handle(DeviceHealth("rfid", True, 2.0), WALL)) == ["device_recovered", "alarm_cleared"]


def test_momentary_alarms_wait_only_for_acknowledgement():
    c = core()
    c._resolve([Record("duress", {"guard": "g1"})], 1.0)
    (alarm,) = c.snapshot()["active_alarms"]
    assert alarm["cleared"] and not alarm["acknowledged"]
    c.handle(AlarmAcknowledged(2.0), WALL)
    assert c.snapshot()["active_alarms"] == []


def test_events_stamped_out_of_order_never_run_time_backwards():
    c = core()
    c.handle(ExitPressed(10.0), WALL)
    c.handle(Tick(16.0), WALL)  # relocked
    assert c.handle(RemoteCommand("unlock", {}, at=0.0), WALL)  # unstamped: treated as now (16.0)
    assert c.door.grant_until == pytest.approx(21.0)


def test_clear_alarm_is_internal():
    # ClearAlarm never reaches the controller.
    c = core()
    c.handle(TamperChanged(True, 1.0), WALL)
    assert not any(isinstance(a, ClearAlarm) for a in c.handle(TamperChanged(False, 2.0), WALL))


def test_opening_just_before_the_grant_ends_is_authorised_not_forced():
    d = DoorStateMachine(DoorSettings(unlock_seconds=5, debounce_seconds=0.15))
    d.grant("card", 0.0)
    assert d.door_changed(True, 4.95) == []       # still settling when the grant runs out
    assert d.tick(5.0) == []
    out = d.tick(5.1)
    types = [a.type for a in out if hasattr(a, "type")]
    assert types == ["door_opened", "relocked"]
    assert out[0].fields["authorised"] is True
