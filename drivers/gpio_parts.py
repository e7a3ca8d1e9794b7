"""The gate's GPIO parts over gpiozero: lock relay, door contact, buttons and inputs, LEDs and buzzer.

Each takes a keyword-only `pin_factory` (gpiozero's injection point): real pins on a Pi, MockFactory
pins in simulation and tests. Debounce is the domain core's job (gpiozero's mock pins ignore
bounce_time, and a forced opening must never be filtered away by a driver).
"""
from __future__ import annotations

import threading
from typing import Callable

from gpiozero import LED, Buzzer, DigitalInputDevice, DigitalOutputDevice

from .errors import DeviceConfigError


class _RelayOutput(DigitalOutputDevice):
    """A DigitalOutputDevice whose close() frees the pin reservation but leaves the line at its
    level. gpiozero's own pin close resets the line (to an input on a Pi; some pin classes drive
    it low first), which on an active-low relay board is an energising glitch."""

    def close(self) -> None:
        pin = getattr(self, "_pin", None)
        if pin is not None:
            self.pin_factory.release_pins(self, pin.info.name)
            self._pin = None
        super().close()


class LockRelay:
    """The lock's relay. `wiring` says what the relay's coil does:

    - "fail-secure": the relay energises to release the strike (unpowered = locked);
    - "fail-safe": the energised relay holds the maglock (unpowered = released).

    No pulse, ever: the pin is claimed directly at one level (gpiozero's `output_with_state`), so
    starting or restarting never passes through the other level. `engaged=True` (the default) claims
    it at the locked level; `engaged=False` claims it unpowered (the daemon does this before it opens
    any storage, then calls `engage()` once it can supervise the door; for a fail-secure strike both
    levels are the same). It then only changes on `release()`/`engage()`; `close()` moves it at most
    once, to the unpowered level, and leaves it there.

    Safe state on stop = unpowered (`safe_state`): a stopped controller watches neither the exit
    button nor the fire input. For a fail-safe maglock that is released (life safety: nobody is locked
    in behind a dead controller); for a fail-secure strike it is locked (egress by the mechanical
    handle). A process that dies without closing (SIGKILL, OOM kill, watchdog abort) leaves the line
    where it was: RPi.GPIO writes the registers through /dev/gpiomem and Raspberry Pi kernels keep a
    freed gpiochip line driven by default, so `hold_unpowered` (run by `gatectl relay-safe` from
    systemd after every stop) puts it right (docs/door-safety.md).
    """

    def __init__(self, pin: int, *, wiring: str = "fail-secure", active_high: bool = True, engaged: bool = True,
                 pin_factory=None):
        if wiring not in ("fail-secure", "fail-safe"):
            raise DeviceConfigError(f"lock wiring must be 'fail-secure' or 'fail-safe', got {wiring!r}")
        self.wiring = wiring
        self._energise_to_release = wiring == "fail-secure"
        locked_level = not self._energise_to_release  # fail-safe: energised while locked
        self._relay = _RelayOutput(pin, active_high=active_high, initial_value=locked_level and engaged,
                                   pin_factory=pin_factory)

    @property
    def safe_state(self) -> str:
        """What the lock does when the relay is unpowered (power cut, daemon stopped)."""
        return "released" if self.wiring == "fail-safe" else "locked"

    @property
    def is_released(self) -> bool:
        return bool(self._relay.value) == self._energise_to_release

    @property
    def is_energised(self) -> bool:
        return bool(self._relay.value)

    def release(self) -> None:
        self._relay.value = self._energise_to_release

    def engage(self) -> None:
        self._relay.value = not self._energise_to_release

    def close(self) -> None:
        """De-energise the relay (the lock goes to `safe_state`) and free the pin. Safe twice."""
        if self._relay.closed:
            return
        self._relay.off()
        self._relay.close()

    def __enter__(self) -> "LockRelay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hold_unpowered(pin: int, *, active_high: bool = True, pin_factory=None) -> None:
    """Drive the lock relay's coil off (the lock's `safe_state`) and free the pin, leaving the line at
    that level: what `gatectl relay-safe` does after a process died holding the line. The pin is
    claimed directly at the unpowered level, so a line already there never moves."""
    relay = _RelayOutput(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
    relay.close()


class BinaryInput:
    """A contact or button on a pulled-up input. `active_when_high` says which level means "active"
    (door open, fire released, tamper). `on_change(active)` runs on every edge; it must be quick."""

    def __init__(self, pin: int, *, active_when_high: bool, on_change: Callable[[bool], None] | None = None,
                 pull_up: bool = True, bounce_time: float | None = None, pin_factory=None):
        # bounce_time: gpiozero's edge filter on real pins (its mock pins ignore it). The door contact
        # is debounced in the core instead, where a forced opening can never be filtered away.
        self._dev = DigitalInputDevice(pin, pull_up=pull_up, bounce_time=bounce_time, pin_factory=pin_factory)
        # DigitalInputDevice with pull_up=True reads "active" when the pin is low.
        self._active_when_low = not active_when_high
        self.on_change = on_change  # settable later: the daemon attaches it once the core knows the idle state
        self._dev.when_activated = self._edge
        self._dev.when_deactivated = self._edge

    def _edge(self, *_args) -> None:
        if self.on_change is not None:
            self.on_change(self.is_active)

    @property
    def is_active(self) -> bool:
        low = bool(self._dev.value) if self._dev.pull_up else not bool(self._dev.value)
        return low if self._active_when_low else not low

    def close(self) -> None:
        if not self._dev.closed:
            self._dev.close()

    def __enter__(self) -> "BinaryInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PATTERNS = ("granted", "refused", "retest", "fever", "prealarm", "alarm", "lockout", "silence")


class Indicators:
    """Green and red LEDs and the buzzer, with one distinct pattern per outcome."""

    def __init__(self, green_pin: int, red_pin: int, buzzer_pin: int, *, pin_factory=None):
        opened = []
        try:
            self.green = LED(green_pin, pin_factory=pin_factory)
            opened.append(self.green)
            self.red = LED(red_pin, pin_factory=pin_factory)
            opened.append(self.red)
            self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
            opened.append(self.buzzer)
        except Exception:
            for dev in opened:
                dev.close()
            raise
        self.last_pattern: str | None = None
        self._lock = threading.Lock()

    def signal(self, pattern: str) -> None:
        """Play a pattern in the background (gpiozero's blink threads); a new pattern replaces the old."""
        if pattern not in PATTERNS:
            raise DeviceConfigError(f"unknown indicator pattern {pattern!r}; known: {', '.join(PATTERNS)}")
        with self._lock:
            self.last_pattern = pattern
            for dev in (self.green, self.red, self.buzzer):
                dev.off()
            if pattern == "granted":
                self.green.blink(on_time=2.0, off_time=0.1, n=1)
                self.buzzer.beep(on_time=0.1, off_time=0.1, n=1)
            elif pattern == "refused":
                self.red.blink(on_time=0.3, off_time=0.2, n=3)
                self.buzzer.beep(on_time=0.3, off_time=0.2, n=3)
            elif pattern == "retest":
                self.green.blink(on_time=0.2, off_time=0.2, n=4)
                self.buzzer.beep(on_time=0.05, off_time=0.35, n=2)
            elif pattern == "fever":
                self.red.blink(on_time=5.0, off_time=0.1, n=1)
                self.buzzer.beep(on_time=1.5, off_time=0.1, n=1)
            elif pattern == "prealarm":
                self.buzzer.beep(on_time=0.2, off_time=0.8, n=None)
            elif pattern == "alarm":
                self.red.blink(on_time=0.1, off_time=0.1, n=None)
                self.buzzer.beep(on_time=0.5, off_time=0.5, n=20)
            elif pattern == "lockout":
                self.red.blink(on_time=1.0, off_time=1.0, n=5)

    def close(self) -> None:
        for dev in (self.green, self.red, self.buzzer):
            if not dev.closed:
                dev.close()

    def __enter__(self) -> "Indicators":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
