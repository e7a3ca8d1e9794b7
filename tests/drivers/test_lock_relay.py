"""LockRelay: wiring semantics, no pulse at start or stop, the unpowered safe state, on mock pins."""
from __future__ import annotations

import pytest

from drivers.errors import DeviceConfigError
from drivers.gpio_parts import LockRelay

PIN = 17


def history(factory):
    """Every level the pin has been at, the unclaimed mock level first."""
    return [bool(s.state) for s in factory.pin(PIN).states]


def test_fail_secure_starts_unenergised_and_energises_only_to_release(mock_pins):
    relay = LockRelay(PIN, wiring="fail-secure")
    assert history(mock_pins) == [False] and not relay.is_released and relay.safe_state == "locked"
    relay.release()
    assert relay.is_released and relay.is_energised
    relay.engage()
    relay.close()
    assert history(mock_pins) == [False, True, False]


def test_fail_safe_is_energised_while_locked_and_released_when_stopped(mock_pins):
    relay = LockRelay(PIN, wiring="fail-safe")
    assert history(mock_pins) == [False, True]  # claimed straight at the locked level
    assert not relay.is_released and relay.is_energised and relay.safe_state == "released"
    relay.release()
    assert relay.is_released and not relay.is_energised
    relay.engage()
    relay.close()
    assert history(mock_pins) == [False, True, False, True, False]


@pytest.mark.parametrize("wiring,running,stopped", [
    ("fail-secure", [False, True], [False, True]),  # high = coil off, both running (locked) and stopped
    ("fail-safe", [False], [False, True]),  # low = maglock energised; stop: coil off once
])
def test_an_active_low_relay_board_never_glitches_on_close(mock_pins, wiring, running, stopped):
    relay = LockRelay(PIN, wiring=wiring, active_high=False)
    assert history(mock_pins) == running
    relay.close()
    relay.close()  # safe twice
    assert history(mock_pins) == stopped


@pytest.mark.parametrize("wiring,released_while_stopped", [("fail-secure", False), ("fail-safe", True)])
def test_a_restart_claims_the_line_again_without_a_pulse(mock_pins, wiring, released_while_stopped):
    with LockRelay(PIN, wiring=wiring) as first:
        assert not first.is_released
    stopped = history(mock_pins)
    with LockRelay(PIN, wiring=wiring) as second:
        assert not second.is_released
        after_restart = history(mock_pins)
    # Exactly one move back to the locked level, only when the stop de-energised a maglock.
    assert after_restart[len(stopped):] == ([True] if released_while_stopped else [])


def test_a_release_in_progress_is_ended_by_close(mock_pins):
    relay = LockRelay(PIN, wiring="fail-secure")
    relay.release()
    relay.close()
    assert history(mock_pins)[-1] is False  # strike unpowered: locked


def test_unknown_wiring_is_refused_with_its_name(mock_pins):
    with pytest.raises(DeviceConfigError, match="fail-open"):
        LockRelay(PIN, wiring="fail-open")


@pytest.mark.parametrize("active_high", [True, False])
def test_hold_unpowered_drives_a_line_left_energised_to_coil_off_and_frees_it(mock_pins, active_high):
    from drivers.gpio_parts import hold_unpowered

    dead = LockRelay(PIN, wiring="fail-secure", active_high=active_high)
    dead.release()  # a grant was running...
    mock_pins.release_all(dead._relay)  # ...when the process died: the line keeps its level
    assert bool(mock_pins.pin(PIN).state) == active_high  # energised
    hold_unpowered(PIN, active_high=active_high)
    assert bool(mock_pins.pin(PIN).state) == (not active_high)  # coil off
    hold_unpowered(PIN, active_high=active_high)  # a line already off never moves
    assert history(mock_pins)[-2:] == [active_high, not active_high]
    # The pin is free again: the next daemon claims it without a pulse.
    with LockRelay(PIN, wiring="fail-secure", active_high=active_high) as next_daemon:
        assert not next_daemon.is_released and bool(mock_pins.pin(PIN).state) == (not active_high)


def test_a_maglock_claimed_unpowered_stays_released_until_engaged(mock_pins):
    relay = LockRelay(PIN, wiring="fail-safe", engaged=False)
    assert history(mock_pins) == [False] and relay.is_released and not relay.is_energised
    relay.engage()
    relay.close()
    assert history(mock_pins) == [False, True, False]
