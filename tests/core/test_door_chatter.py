"""Bounded debounce and contact chatter (fault-injection 8): a contact that is open more than it is
closed is open, and a contact that never rests raises door_contact_fault. Injected times only."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gate.core.access import PassRules
from gate.core.actions import Record, Signal
from gate.core.alarms import ClearAlarm
from gate.core.door import DoorSettings, DoorStateMachine
from gate.core.events import DoorChanged, ExitPressed, Tick
from gate.core.machine import CoreSettings, GateCore

WALL = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
S = DoorSettings(unlock_seconds=5, exit_unlock_seconds=5, held_open_seconds=30, prealarm_seconds=10,
                 debounce_seconds=0.15, chatter_seconds=2.0)


class NoPasses:
    def get(self, card):
        return None


def gate_core():
    return GateCore(CoreSettings(door=S), PassRules(NoPasses()))


def flutter(c, start: float, open_s: float, closed_s: float, seconds: float, end_closed: bool = True):
    """Drive open/closed edges like a vibrating magnet, with the daemon's ticks at every deadline in
    between; returns [(time, record type)] in order and the time of the last edge."""
    out: list[tuple[float, object]] = []
    t, edges = start, []
    while t < start + seconds - 1e-9:
        edges += [(t, True), (t + open_s, False)]
        t += open_s + closed_s
    if not end_closed:
        edges.append((t, True))
    for at, is_open in edges:
        out += tick_until(c, at)
        out += [(at, a) for a in c.handle(DoorChanged(is_open, at), WALL)]
    return out, edges[-1][0]


def tick_until(c, until: float):
    out = []
    while (d := c.next_deadline()) is not None and d <= until:
        out += [(d, a) for a in c.handle(Tick(d), WALL)]
    return out


def records(out):
    return [(round(t, 3), a.type) for t, a in out if isinstance(a, Record)]


def test_a_contact_open_100ms_closed_20ms_for_6s_is_a_forced_opening_and_a_contact_fault():
    c = gate_core()
    out, last = flutter(c, 10.0, 0.100, 0.020, 6.0)
    out += tick_until(c, last + 5.0)
    got = records(out)
    kinds = [k for _, k in got]
    assert kinds.count("forced_open") == 1 and kinds.count("door_opened") == 1
    # Open more than the debounce time within 1.5 times it: counted within ~0.2 s of the first edge...
    forced_at = next(t for t, k in got if k == "forced_open")
    assert forced_at < 10.3
    # ...and dated from that edge (the opening began then, not when it was recognised).
    opened = next(a for t, a in out if isinstance(a, Record) and a.type == "door_opened")
    assert opened.fields == {"authorised": False}
    # Edges that never rest for 2 s: a contact fault, raised once, cleared once the contact rests.
    fault_at = next(t for t, k in got if k == "door_contact_fault")
    assert 12.0 <= fault_at < 12.2 and kinds.count("door_contact_fault") == 1
    cleared = [a.fields["alarm"] for _, a in out if isinstance(a, Record) and a.type == "alarm_cleared"]
    assert sorted(cleared) == ["door_contact_fault", "forced_open"]
    # The door counts as closed only after the flutter stopped and the contact stayed shut.
    closed_at = next(t for t, k in got if k == "door_closed")
    assert closed_at >= last and c.door.door_state == "closed"
    assert any(isinstance(a, Signal) and a.pattern == "alarm" for _, a in out)


@pytest.mark.parametrize("open_s,closed_s", [(0.025, 0.025), (0.030, 0.020)])  # even, and with jitter
def test_even_chatter_of_a_second_ending_closed_is_bounce(open_s, closed_s):
    c = gate_core()
    out, last = flutter(c, 10.0, open_s, closed_s, 1.0)
    out += tick_until(c, last + 3.0)
    assert records(out) == [] and c.door.door_state == "closed"


@pytest.mark.parametrize("open_s,expected", [(0.12, 0), (0.2, 5)])
def test_separate_openings_count_by_their_own_length(open_s, expected):
    c = gate_core()
    out, last = flutter(c, 10.0, open_s, 0.3, 5 * (open_s + 0.3) - 0.01)
    out += tick_until(c, last + 3.0)
    kinds = [k for _, k in records(out)]
    assert kinds.count("forced_open") == expected and "door_contact_fault" not in kinds


def test_flutter_during_a_grant_is_the_authorised_opening():
    c = gate_core()
    c.handle(ExitPressed(9.9), WALL)
    out, last = flutter(c, 10.0, 0.100, 0.020, 1.0, end_closed=False)
    out += tick_until(c, last + 0.5)
    opened = [a for _, a in out if isinstance(a, Record) and a.type == "door_opened"]
    assert [o.fields for o in opened] == [{"authorised": True, "grant": "exit"}]
    assert "forced_open" not in [k for _, k in records(out)]


def test_a_door_open_does_not_close_on_flicker():
    d = DoorStateMachine(S)
    d.door_changed(True, 10.0)
    d.tick(10.15)
    assert d.door_state == "open"
    t, out = 10.2, []
    for _ in range(20):  # closed 100 ms, open 20 ms: mostly closed, never closed for 150 ms
        out += d.door_changed(False, t) + d.door_changed(True, t + 0.1)
        t += 0.12
    assert d.door_state == "open" and "door_closed" not in [a.type for a in out if isinstance(a, Record)]
    assert [a.type for a in d.door_changed(False, t) + d.tick(t + 0.15) if isinstance(a, Record)] == ["door_closed"]


def test_chatter_fault_waits_for_the_contact_to_rest():
    d = DoorStateMachine(S)
    t, out = 10.0, []
    for _ in range(60):  # 25 ms edges for 3 s, starting closed
        out += d.door_changed(True, t) + d.door_changed(False, t + 0.025)
        t += 0.05
    faults = [a for a in out if isinstance(a, Record) and a.type == "door_contact_fault"]
    assert len(faults) == 1 and faults[0].fields["seconds"] >= 2.0 and faults[0].fields["edges"] >= 80
    assert d.tick(t + 0.1) == []  # still within the rest time after the last edge
    assert ClearAlarm("door_contact_fault") in d.tick(t + 0.2)
