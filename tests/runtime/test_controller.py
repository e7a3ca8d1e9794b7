"""The controller commits every record before the relay moves, and keeps deciding on a failing disk."""
from __future__ import annotations

from gate.core.access import PassRules
from gate.clock import FakeClock
from gate.runtime.controller import Controller
from gate.core.machine import CoreSettings, GateCore
from gate.core.errors import StorageError
from gate.core.events import CardPresented, DoorChanged, ExitPressed, FireChanged, Tick
from gate.store.journal import Journal
from gate.core.passes import make_pass


class Passes:
    def get(self, card):
        return make_pass(card, "Wang Li") if card == "DEADBEEF" else None


class SpyLock:
    """Notes, at each move, which records the journal already holds on disk."""

    def __init__(self, journal_path):
        self.journal_path = journal_path
        self.moves = []

    def _seen(self):
        with Journal(self.journal_path, "g") as j:  # a separate connection: only committed data shows
            return [r.type for r in j.records()]

    def release(self):
        self.moves.append(("release", self._seen()))

    def engage(self):
        self.moves.append(("engage", self._seen()))


def make(tmp_path, journal=None):
    clock = FakeClock()
    journal = journal or Journal(tmp_path / "journal.db", "g", clock=clock)
    lock = SpyLock(tmp_path / "journal.db")
    signals = []
    c = Controller(GateCore(CoreSettings(), PassRules(Passes())), journal, lock=lock, clock=clock,
                   signal_sinks=[signals.append])
    return c, journal, lock, signals, clock


def test_grant_is_on_disk_before_the_relay_moves(tmp_path):
    c, journal, lock, signals, clock = make(tmp_path)
    committed = c.process(CardPresented("DEADBEEF", clock.monotonic()))
    assert [r.type for r in committed] == ["access_granted"]
    assert lock.moves == [("release", ["access_granted"])]
    assert signals == ["granted"]
    t = clock.monotonic()
    c.process(DoorChanged(True, t + 1))
    c.process(Tick(t + 1.5))  # past the contact debounce
    c.process(DoorChanged(False, t + 2))
    c.process(Tick(t + 2.5))
    assert lock.moves[-1] == ("engage", ["access_granted", "door_opened", "door_closed", "relocked"])
    assert c.snapshot()["lock"] == "locked"


class FailingJournal(Journal):
    fail = True

    def append_many(self, items):
        if self.fail:
            raise StorageError("disk full")
        return super().append_many(items)


def test_a_failing_disk_refuses_entry_keeps_exits_and_reports_itself(tmp_path):
    journal = FailingJournal(tmp_path / "journal.db", "g", clock=FakeClock())
    c, _, lock, signals, clock = make(tmp_path, journal)
    assert c.process(CardPresented("DEADBEEF", clock.monotonic())) == []
    assert lock.moves == []                        # nobody enters unrecorded
    assert signals == ["refused"]
    assert c.snapshot()["lock"] == "locked"
    assert "journal" in c.snapshot()["faulty_devices"]
    c.process(ExitPressed(clock.monotonic() + 1))  # getting out never depends on the disk
    assert [m for m, _ in lock.moves] == ["release"]

    journal.fail = False
    committed = c.process(CardPresented("0BADCAFE", clock.monotonic() + 2))
    types = [r.type for r in committed]
    # The held records first, in order, marked with when they happened; then the new ones.
    assert types[:3] == ["access_refused", "device_fault", "relocked"]
    assert committed[0].fields["reason"] == "journal_unavailable"
    assert all("held_since" in r.fields for r in committed[:3])
    assert "exit_request" in types and "device_recovered" in types
    assert [r.seq for r in committed] == list(range(1, len(committed) + 1))
    assert "journal" not in c.snapshot()["faulty_devices"]


def test_the_fire_release_moves_the_relay_before_the_journal(tmp_path):
    c, journal, lock, _, clock = make(tmp_path)
    c.process(FireChanged(True, clock.monotonic()))
    assert lock.moves == [("release", [])]         # released before fire_release was on disk
    assert [r.type for r in journal.records()] == ["fire_release"]


def test_an_alarm_held_in_memory_outlives_any_number_of_ordinary_records(tmp_path, monkeypatch):
    """Fault-injection 5: storage_low raised on a full disk must reach the journal once there is room."""
    from gate.runtime import controller

    MAX_HELD = 50
    monkeypatch.setattr(controller, "MAX_HELD", MAX_HELD)
    journal = FailingJournal(tmp_path / "journal.db", "g", clock=FakeClock())
    c, _, _lock, _signals, clock = make(tmp_path, journal)
    c.record("storage_low", {"reason": "disk_space", "free_mb": 0.0, "min_free_mb": 64})
    for i in range(MAX_HELD + 5):
        c.record("door_closed", {"i": i})
    journal.fail = False
    committed = c.record("exit_request")
    types = [r.type for r in committed]
    assert "storage_low" in types and "device_fault" in types
    assert len(committed) <= MAX_HELD + 3  # bounded: the oldest door edges went instead
