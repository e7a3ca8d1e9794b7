"""The GPIO matrix keypad, driven through gpiozero mock pins wired like the real matrix."""
from __future__ import annotations

import threading

import pytest

from drivers.errors import DeviceConfigError
from drivers.matrix_keypad import MatrixKeypad, press, release, tap_keys

ROWS = (5, 6, 13, 19)
COLS = (12, 16, 20)


@pytest.fixture
def keys():
    return []


@pytest.fixture
def keypad(mock_pins, keys):
    with MatrixKeypad(ROWS, COLS, on_key=keys.append, pin_factory=mock_pins) as kp:
        yield kp


def scans(kp, n):
    return [kp.scan() for _ in range(n)]


def tap(kp, factory, key, hold=3, gap=3):
    press(factory, ROWS, COLS, key)
    scans(kp, hold)
    release(factory, ROWS, COLS, key)
    scans(kp, gap)


def test_each_key_is_reported_once_per_press(keypad, mock_pins, keys):
    for key in "147*2580369#":
        tap(keypad, mock_pins, key)
    assert "".join(keys) == "147*2580369#"


def test_tap_keys_types_a_whole_override(keypad, mock_pins, keys):
    tap_keys(mock_pins, ROWS, COLS, "4711#", wait=lambda _s: scans(keypad, 3))
    assert "".join(keys) == "4711#"


def test_a_held_key_is_reported_once(keypad, mock_pins, keys):
    press(mock_pins, ROWS, COLS, "5")
    assert scans(keypad, 50).count("5") == 1
    release(mock_pins, ROWS, COLS)
    scans(keypad, 3)
    tap(keypad, mock_pins, "5")
    assert keys == ["5", "5"]


def test_a_bounce_shorter_than_the_debounce_is_ignored(mock_pins, keys):
    with MatrixKeypad(ROWS, COLS, on_key=keys.append, pin_factory=mock_pins,
                      debounce_scans=3) as kp:
        tap(kp, mock_pins, "8", hold=2)  # contact for two scans only
        assert keys == []
        tap(kp, mock_pins, "8", hold=3)
        assert keys == ["8"]


def test_two_keys_at_once_are_ambiguous_and_report_nothing(keypad, mock_pins, keys):
    press(mock_pins, ROWS, COLS, "1")
    press(mock_pins, ROWS, COLS, "9")
    scans(keypad, 10)
    assert keys == []
    release(mock_pins, ROWS, COLS)
    scans(keypad, 3)
    tap(keypad, mock_pins, "2")
    assert keys == ["2"]


def test_rows_are_open_drain_and_idle_floating(keypad, mock_pins):
    """While a column is read, exactly one row is driven, and low; the others float (input, no
    pull), so two keys pressed in one column can never short a high row against a low one."""
    rows = [mock_pins.pin(p) for p in ROWS]
    seen = []
    col = mock_pins.pin(COLS[0])
    read_state = col._get_state

    def spying_read():
        seen.append(tuple((r.function, r.state if r.function == "output" else r.pull) for r in rows))
        return read_state()

    col._get_state = spying_read
    keypad.scan()
    del col._get_state
    assert len(seen) == len(ROWS)
    for i, snapshot in enumerate(seen):
        assert snapshot[i] == ("output", False)
        assert all(s == ("input", "floating") for j, s in enumerate(snapshot) if j != i)
    assert all(r.function == "input" for r in rows)  # all released after the scan
    assert all(mock_pins.pin(c).pull == "up" for c in COLS)


def test_scanning_thread_reports_keys(mock_pins, keys):
    got = threading.Event()
    with MatrixKeypad(ROWS, COLS, on_key=lambda k: (keys.append(k), got.set()),
                      pin_factory=mock_pins, scan_hz=200) as kp:
        kp.start()
        press(mock_pins, ROWS, COLS, "#")
        assert got.wait(5.0)
        release(mock_pins, ROWS, COLS)
    assert keys == ["#"]


def test_4x4_keymap(mock_pins, keys):
    cols = COLS + (21,)
    keymap = ("123A", "456B", "789C", "*0#D")
    with MatrixKeypad(ROWS, cols, keymap, on_key=keys.append, pin_factory=mock_pins) as kp:
        press(mock_pins, ROWS, cols, "D", keymap)
        scans(kp, 3)
    assert keys == ["D"]


def test_callback_errors_do_not_stop_scanning(mock_pins):
    def boom(key):
        raise RuntimeError("consumer bug")

    with MatrixKeypad(ROWS, COLS, on_key=boom, pin_factory=mock_pins) as kp:
        press(mock_pins, ROWS, COLS, "3")
        assert "3" in scans(kp, 3)


def test_close_twice_releases_pins(mock_pins, keys):
    kp = MatrixKeypad(ROWS, COLS, on_key=keys.append, pin_factory=mock_pins)
    kp.close()
    kp.close()
    # the pins are free again
    MatrixKeypad(ROWS, COLS, on_key=keys.append, pin_factory=mock_pins).close()
    with pytest.raises(RuntimeError, match="closed"):
        kp.start()


@pytest.mark.parametrize("rows, cols, keymap, problem", [
    (ROWS[:3], COLS, ("123", "456", "789", "*0#"), "3 row pins but the keymap has 4 rows"),
    (ROWS, COLS[:2], ("123", "456", "789", "*0#"), "has 3 keys but there are 2 column pins"),
    (ROWS, (5, 16, 20), ("123", "456", "789", "*0#"), "pin(s) 5 used twice"),
    (ROWS, COLS, ("123", "456", "789", "*1#"), "repeats a key"),
])
def test_bad_layouts_name_the_problem(mock_pins, rows, cols, keymap, problem):
    with pytest.raises(DeviceConfigError) as err:
        MatrixKeypad(rows, cols, keymap, on_key=print, pin_factory=mock_pins)
    assert problem in str(err.value)


def test_pin_clash_with_another_device_closes_what_was_opened(mock_pins):
    from gpiozero import LED
    led = LED(12, pin_factory=mock_pins)  # a column pin already in use
    with pytest.raises(Exception, match="12|in use"):
        MatrixKeypad(ROWS, COLS, on_key=print, pin_factory=mock_pins)
    led.close()
    MatrixKeypad(ROWS, COLS, on_key=print, pin_factory=mock_pins).close()  # rows were released


def test_simulated_press_rejects_unknown_key(mock_pins):
    with pytest.raises(ValueError, match="'X'"):
        press(mock_pins, ROWS, COLS, "X")
