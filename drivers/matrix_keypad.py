"""A 3x4 or 4x4 GPIO matrix keypad, scanned at a fixed rate (no busy loop).

Wiring: columns are inputs with the Pi's pull-ups; rows are open-drain: an idle row floats (input,
no pull) and the row being scanned is driven low. A pressed key then pulls its column low. Idle rows
are never driven high because two keys pressed in one column would then short a high row against
the low one.

Debounce and ghosting are handled here (gpiozero's bounce_time is not enough, and mock pins ignore
it): a key is reported once, when it has been seen alone in `debounce_scans` consecutive scans; a
scan that shows several keys is ambiguous (without diodes a third "ghost" key can appear) and
reports nothing until it resolves.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Callable, Sequence

from gpiozero import DigitalInputDevice, GPIODevice

from drivers.errors import DeviceConfigError

log = logging.getLogger(__name__)

DEFAULT_KEYMAP = ("123", "456", "789", "*0#")
_AMBIGUOUS = "<several keys>"  # never a key: keys are single characters


class MatrixKeypad:
    """Reports each key press once through `on_key(key)`, from its scan thread (or from `scan()`
    when a test drives it)."""

    def __init__(self, row_pins: Sequence, col_pins: Sequence, keymap: Sequence[str] = DEFAULT_KEYMAP,
                 *, on_key: Callable[[str], None], pin_factory=None, scan_hz: float = 50,
                 debounce_scans: int = 2):
        _check_layout(row_pins, col_pins, keymap)
        if not 1 <= scan_hz <= 1000:
            raise DeviceConfigError(f"matrix keypad: scan_hz must be between 1 and 1000, got {scan_hz}")
        if debounce_scans < 1:
            raise DeviceConfigError(f"matrix keypad: debounce_scans must be >= 1, got {debounce_scans}")
        self._keymap = tuple(keymap)
        self._on_key = on_key
        self._period = 1.0 / scan_hz
        self._debounce = debounce_scans
        self._rows: list[GPIODevice] = []
        self._cols: list[DigitalInputDevice] = []
        self._candidate = None   # what the last scans saw: a key, None or _AMBIGUOUS
        self._seen = 0           # for how many consecutive scans
        self._stable = None      # what was last accepted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scan_lock = threading.Lock()
        try:
            for pin in row_pins:
                row = GPIODevice(pin, pin_factory=pin_factory)
                self._rows.append(row)
                row.pin.input_with_pull("floating")
            for pin in col_pins:
                self._cols.append(DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory))
        except Exception:
            self.close()
            raise

    def start(self) -> None:
        """Start scanning in a background thread."""
        if self._stop.is_set():
            raise RuntimeError("matrix keypad: closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="matrix-keypad", daemon=True)
            self._thread.start()

    def scan(self) -> str | None:
        """One pass over all rows; returns the key reported by this pass, if any."""
        with self._scan_lock:
            pressed = self._read_matrix()
        raw = pressed[0] if len(pressed) == 1 else (None if not pressed else _AMBIGUOUS)
        if raw == self._candidate:
            self._seen += 1
        else:
            self._candidate, self._seen = raw, 1
        if self._seen != self._debounce or raw == self._stable:
            return None
        self._stable = raw
        if raw is None or raw == _AMBIGUOUS:
            return None
        try:
            self._on_key(raw)
        except Exception:  # a consumer's bug must not stop the scanning
            log.exception("matrix keypad: on_key failed")
        return raw

    def close(self) -> None:
        """Stop scanning and release the pins. Safe twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
        with self._scan_lock:
            for dev in self._cols + self._rows:
                dev.close()
            self._cols, self._rows = [], []

    def __enter__(self) -> "MatrixKeypad":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_matrix(self) -> list[str]:
        pressed = []
        for r, row in enumerate(self._rows):
            row.pin.output_with_state(False)
            try:
                for c, col in enumerate(self._cols):
                    if col.is_active:  # pulled low through a pressed key
                        pressed.append(self._keymap[r][c])
            finally:
                row.pin.input_with_pull("floating")
        return pressed

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.scan()
            except Exception:
                log.exception("matrix keypad: scan failed")


def _check_layout(row_pins, col_pins, keymap) -> None:
    if len(row_pins) != len(keymap):
        raise DeviceConfigError(f"matrix keypad: {len(row_pins)} row pins but the keymap has "
                                f"{len(keymap)} rows")
    for i, line in enumerate(keymap):
        if len(line) != len(col_pins):
            raise DeviceConfigError(f"matrix keypad: keymap row {i} {line!r} has {len(line)} keys "
                                    f"but there are {len(col_pins)} column pins")
    pins = [str(p) for p in (*row_pins, *col_pins)]
    dupes = sorted({p for p in pins if pins.count(p) > 1})
    if dupes:
        raise DeviceConfigError(f"matrix keypad: pin(s) {', '.join(dupes)} used twice")
    keys = "".join(keymap)
    if len(set(keys)) != len(keys):
        raise DeviceConfigError(f"matrix keypad: keymap {tuple(keymap)!r} repeats a key")


class MockKeypadWiring:
    """Simulation on gpiozero's MockFactory: the wires and switches of a matrix keypad.

    `press(key)` closes the key's switch: from then on its column pin reads low exactly while its
    row is driven low (as on the real matrix), until `release(key)`.
    """

    def __init__(self, factory, row_pins: Sequence, col_pins: Sequence,
                 keymap: Sequence[str] = DEFAULT_KEYMAP):
        _check_layout(row_pins, col_pins, keymap)
        self._rows = [factory.pin(p) for p in row_pins]
        self._cols = [factory.pin(p) for p in col_pins]
        self._where = {k: (r, c) for r, line in enumerate(keymap) for c, k in enumerate(line)}
        self._pressed: set[str] = set()
        self._lock = threading.RLock()
        for pin in self._rows:
            self._hook(pin)

    def press(self, key: str) -> None:
        if key not in self._where:
            raise ValueError(f"matrix keypad simulation: no key {key!r} on this keypad")
        with self._lock:
            self._pressed.add(key)
            self._update()

    def release(self, key: str | None = None) -> None:
        """Release `key`, or every key."""
        with self._lock:
            if key is None:
                self._pressed.clear()
            else:
                self._pressed.discard(key)
            self._update()

    def is_current(self, factory) -> bool:
        """Still wired to the factory's pin objects (not replaced by a factory reset)."""
        return all(factory.pins.get(p.info) is p for p in self._rows + self._cols)

    def _hook(self, pin) -> None:
        # wrap this pin object's state/function setters so the columns follow the row
        change, set_function = pin._change_state, pin._set_function

        def changed(value):
            result = change(value)
            self._update()
            return result

        def function_set(value):
            set_function(value)
            self._update()

        pin._change_state, pin._set_function = changed, function_set

    def _update(self) -> None:
        with self._lock:
            low = set()
            for key in self._pressed:
                r, c = self._where[key]
                row = self._rows[r]
                if row.function == "output" and not row.state:
                    low.add(c)
            for c, pin in enumerate(self._cols):
                if pin.function != "input":
                    continue
                if c in low:
                    pin.drive_low()
                elif pin.pull == "up":
                    pin.drive_high()


_WIRINGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def wiring_for(factory, row_pins: Sequence, col_pins: Sequence,
               keymap: Sequence[str] = DEFAULT_KEYMAP) -> MockKeypadWiring:
    """The one wiring of these mock pins (pins are shared, so their switches must be too)."""
    per_factory = _WIRINGS.setdefault(factory, {})
    key = (tuple(map(str, row_pins)), tuple(map(str, col_pins)), tuple(keymap))
    wiring = per_factory.get(key)
    if wiring is None or not wiring.is_current(factory):  # factory.reset() makes new pins
        wiring = per_factory[key] = MockKeypadWiring(factory, row_pins, col_pins, keymap)
    return wiring


def press(factory, row_pins: Sequence, col_pins: Sequence, key: str,
          keymap: Sequence[str] = DEFAULT_KEYMAP) -> MockKeypadWiring:
    """Make `key` appear pressed on mock pins (its column reads low while its row is driven low)
    until released; returns the wiring (`.release(key)`)."""
    wiring = wiring_for(factory, row_pins, col_pins, keymap)
    wiring.press(key)
    return wiring


def release(factory, row_pins: Sequence, col_pins: Sequence, key: str | None = None,
            keymap: Sequence[str] = DEFAULT_KEYMAP) -> None:
    """Release `key` (or every key) on mock pins."""
    wiring_for(factory, row_pins, col_pins, keymap).release(key)


def tap_keys(factory, row_pins: Sequence, col_pins: Sequence, keys: str,
             keymap: Sequence[str] = DEFAULT_KEYMAP, *, hold_s: float = 0.1, gap_s: float = 0.1,
             wait: Callable[[float], None] = time.sleep) -> None:
    """Type `keys` on mock pins: press, hold, release, pause, per key (for `gatectl sim keys`).
    Hold and gap must exceed the keypad's debounce time (debounce_scans / scan_hz)."""
    wiring = wiring_for(factory, row_pins, col_pins, keymap)
    for key in keys:
        wiring.press(key)
        try:
            wait(hold_s)
        finally:
            wiring.release(key)
        wait(gap_s)
