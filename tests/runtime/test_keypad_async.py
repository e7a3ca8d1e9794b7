"""A guard's PIN check runs off the main loop: the fire release never waits behind it.

One GateDaemon in this process on mock pins and a fake clock; the test thread is its main loop
(`pump`). The guard store's verify is wrapped so that it blocks until the test lets it go.
"""
from __future__ import annotations

import threading

import pytest

from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon
from gate.core.events import FireChanged, KeyPressed, PinVerified

from safetykit import write_config  # noqa: E402  (tests/ is on sys.path via conftest)

WAIT = 10.0
PIN = "471108"


class HeldGuards:
    """The real GuardStore, whose verify waits for `release` (set by the test)."""

    def __init__(self, store):
        self.store = store
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.threads: list[str] = []

    def verify(self, pin):
        self.threads.append(threading.current_thread().name)
        self.started.set()
        assert self.release.wait(WAIT), "the test never released the PIN check"
        try:
            return self.store.verify(pin)
        finally:
            self.finished.set()


def pump(daemon):
    """Run the main loop over what is queued now."""
    while not daemon.events.empty():
        daemon.controller.process(daemon.events.get_nowait())
    daemon.controller.tick()


def type_keys(daemon, clock, keys):
    for k in keys:
        daemon.post(KeyPressed(k, clock.monotonic(), "gpio-keypad"))
        clock.advance(0.1)
    pump(daemon)


@pytest.fixture
def gate(tmp_path, mock_pins, fake_clock, caplog):
    caplog.set_level("DEBUG")
    daemon = GateDaemon(load_config(write_config(tmp_path)), clock=fake_clock, pin_factory=mock_pins)
    daemon.start()
    daemon.guards.add("g-anna", PIN, duress_pin="826419")
    held = HeldGuards(daemon.guards)
    daemon.guards = held  # the daemon hands its guard store to the worker at each check
    pump(daemon)
    try:
        yield daemon, held
    finally:
        held.release.set()  # never leave the worker blocked: close() waits for it
        daemon.close()


def records(daemon, record_type):
    return [r.fields for r in daemon.journal.records(record_type=record_type)]


def relay_energised(daemon, factory) -> bool:
    return bool(factory.pin(daemon.cfg.hardware.gpio.lock_pin).state)


def test_fire_release_does_not_wait_behind_a_pin_check(gate, fake_clock, mock_pins, caplog):
    daemon, held = gate
    type_keys(daemon, fake_clock, f"{PIN}#")
    assert held.started.wait(WAIT), "the PIN check never started"
    assert held.threads == [held.threads[0]] and held.threads[0] != threading.current_thread().name
    assert daemon.controller.snapshot()["lock"] == "locked" and not relay_energised(daemon, mock_pins)

    # The check is still blocked on the worker; the main loop takes the fire release at once.
    daemon.post(FireChanged(True, fake_clock.monotonic()))
    pump(daemon)
    assert not held.finished.is_set()  # the release did not wait for the check
    snap = daemon.controller.snapshot()
    assert snap["mode"] == "fire" and snap["lock"] == "unlocked"
    assert relay_energised(daemon, mock_pins)  # fail-secure strike: energised = released
    assert records(daemon, "override") == []

    # The check finishes: its answer arrives as an event, and the override is journaled.
    held.release.set()
    answer = daemon.events.get(timeout=WAIT)
    assert isinstance(answer, PinVerified) and answer.result == ("g-anna", False)
    daemon.controller.process(answer)
    assert records(daemon, "override") == [{"guard": "g-anna", "source": "gpio-keypad"}]
    assert records(daemon, "override_refused") == []
    # The PIN appears nowhere: not in the event, the journal or the log.
    assert PIN not in repr(answer)
    assert all(PIN not in str(r.fields) for r in daemon.journal.records())
    assert PIN not in caplog.text


def test_override_opens_once_the_check_returns(gate, fake_clock):
    daemon, held = gate
    held.release.set()
    type_keys(daemon, fake_clock, f"{PIN}#")
    answer = daemon.events.get(timeout=WAIT)
    assert isinstance(answer, PinVerified)
    assert daemon.controller.snapshot()["lock"] == "locked"  # nothing opens before the answer
    daemon.controller.process(answer)
    assert daemon.controller.snapshot()["lock"] == "unlocked"
    assert records(daemon, "override") == [{"guard": "g-anna", "source": "gpio-keypad"}]


def test_keys_typed_during_a_check_are_kept_and_a_wrong_pin_still_counts(gate, fake_clock):
    daemon, held = gate
    type_keys(daemon, fake_clock, f"000000#{PIN}#")  # typed ahead while the first check is held
    assert held.started.wait(WAIT)
    held.release.set()
    first = daemon.events.get(timeout=WAIT)
    daemon.controller.process(first)  # refused; the typed-ahead entry starts the next check
    assert [r["attempts"] for r in records(daemon, "override_refused")] == [1]
    second = daemon.events.get(timeout=WAIT)
    assert isinstance(second, PinVerified) and second.request_id == first.request_id + 1
    daemon.controller.process(second)
    assert records(daemon, "override") == [{"guard": "g-anna", "source": "gpio-keypad"}]


def test_an_answer_after_the_timeout_opens_nothing(gate, fake_clock):
    daemon, held = gate
    type_keys(daemon, fake_clock, f"{PIN}#")
    assert held.started.wait(WAIT)
    fake_clock.advance(daemon.cfg.keypad.entry_timeout_seconds + 1)
    pump(daemon)  # the tick times the check out: a failed attempt, fail closed
    assert [r["attempts"] for r in records(daemon, "override_refused")] == [1]
    held.release.set()
    daemon.controller.process(daemon.events.get(timeout=WAIT))
    assert records(daemon, "override") == []
    assert daemon.controller.snapshot()["lock"] == "locked"
