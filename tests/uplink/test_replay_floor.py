"""A captured command never executes twice, whatever the gate's wall clock does (audit F6, r04)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from gate.clock import FakeClock
from gate.core.timefmt import format_ts
from gate.store.retention import Retention, RetentionPolicy
from gate.uplink.command_gate import CommandGate, CommandRejected
from gate.uplink.replay_floor import FILE_NAME, ReplayFloor
from gate.uplink.signing import sign
from gatefixture import SECRET
from uplinkfixture import open_journal


def _command(clock, cmd_id, *, issued_delta=timedelta(0)) -> bytes:
    obj = {"cmd_id": cmd_id, "gate": "g1", "issued_at": format_ts(clock.wall() + issued_delta),
           "action": "unlock", "seconds": 600}
    return json.dumps(sign(obj, SECRET)).encode()


def _reason(gate, payload) -> str:
    with pytest.raises(CommandRejected) as info:
        gate.verify(payload, retained=False)
    return info.value.reason


def test_replay_after_the_clock_went_forward_and_back_is_refused(tmp_path):
    clock = FakeClock()
    with open_journal(tmp_path, "g1") as journal:
        journal.clock = clock
        gate = CommandGate("g1", journal, key=SECRET, clock=clock)
        captured = _command(clock, "c-1")
        assert gate.verify(captured, retained=False)["cmd_id"] == "c-1"
        assert _reason(gate, captured) == "reused"
        clock.jump_wall(timedelta(days=31))  # the attacker moves the gate's clock forward ...
        Retention(journal, RetentionPolicy()).run_once()  # ... retention forgets the journal's ids ...
        assert not journal.command_seen("c-1")
        clock.jump_wall(timedelta(days=-31))  # ... and back to the capture time
        assert _reason(gate, captured) == "reused"
        # A restart changes nothing: the floor is on disk.
        again = CommandGate("g1", journal, key=SECRET, clock=clock)
        assert _reason(again, captured) == "reused"


def test_a_command_issued_well_before_the_newest_accepted_one_is_stale(tmp_path):
    clock = FakeClock()
    with open_journal(tmp_path, "g1") as journal:
        gate = CommandGate("g1", journal, key=SECRET, clock=clock)
        older = _command(clock, "c-old", issued_delta=timedelta(seconds=-25))  # within the 30 s skew ...
        gate.verify(_command(clock, "c-new", issued_delta=timedelta(seconds=10)), retained=False)
        assert _reason(gate, older) == "stale"  # ... but 35 s before the newest accepted command
        overtaken = _command(clock, "c-overtaken", issued_delta=timedelta(seconds=-15))
        assert gate.verify(overtaken, retained=False)["cmd_id"] == "c-overtaken"  # within the window: fine


def test_the_floor_keeps_only_ids_a_replay_could_use(tmp_path):
    floor = ReplayFloor(tmp_path / FILE_NAME, window_seconds=30, max_recent=3, now=0)
    for i, t in enumerate([100, 110, 120, 200]):
        floor.accept(f"c{i}", t)
    assert sorted(floor.recent) == ["c3"] and floor.admits(170) and not floor.admits(169.9)
    for i in range(4, 8):  # a burst beyond max_recent raises the floor over the oldest kept
        floor.accept(f"c{i}", 200 + i)
    assert len(floor.recent) == 3 and not floor.admits(203) and floor.admits(205)
    reloaded = ReplayFloor(tmp_path / FILE_NAME, window_seconds=30, max_recent=3, now=0)
    assert reloaded.recent == floor.recent and reloaded.floor == floor.floor


def test_a_damaged_floor_file_is_set_aside_and_the_floor_restarts_at_the_gate_clock(tmp_path):
    (tmp_path / FILE_NAME).write_text("{not json")
    floor = ReplayFloor(tmp_path / FILE_NAME, window_seconds=30, now=1000.0)
    assert (tmp_path / (FILE_NAME + ".damaged")).exists()
    assert not floor.admits(999.0) and floor.admits(1000.0)
