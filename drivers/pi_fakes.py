"""Fake `spidev` and `RPi.GPIO` modules, so the unmodified `mfrc522` library runs off a Pi.

`mfrc522` imports `RPi.GPIO` at import time, and on x86 the real one raises "This module can only be
run on a Raspberry Pi!". `install_fake_pi_modules()` puts the fakes into `sys.modules` ahead of the
real packages (both are pip-installed here); `attach_spi_device()` wires `/dev/spidevB.D` to an
emulator and, optionally, a GPIO pin to its RST input.

Only for `hardware.mode = "simulated"` and tests: on a Pi nothing here is imported.
"""
from __future__ import annotations

import errno
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Iterator, Protocol


class SpiEmulator(Protocol):
    def xfer2(self, data: list[int]) -> list[int]: ...

    def set_rst(self, high: bool) -> None: ...


_lock = threading.RLock()
_devices: dict[tuple[int, int], SpiEmulator] = {}
_rst_pins: dict[int, SpiEmulator] = {}


# ------------------------------------------------------------------------------------ spidev
class SpiDev:
    """Fake `spidev.SpiDev`: `open(bus, device)` connects to the emulator attached there."""

    def __init__(self, bus: int | None = None, device: int | None = None):
        self.max_speed_hz = 500_000
        self.mode = 0
        self.bits_per_word = 8
        self._device: SpiEmulator | None = None
        if bus is not None and device is not None:
            self.open(bus, device)

    def open(self, bus: int, device: int) -> None:
        with _lock:
            emulator = _devices.get((bus, device))
        if emulator is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory",
                                    f"/dev/spidev{bus}.{device}")
        self._device = emulator

    def _require(self) -> SpiEmulator:
        if self._device is None:
            raise OSError(errno.EBADF, "SPI device is not open")
        return self._device

    def xfer2(self, data: list[int], *_args: Any) -> list[int]:
        return list(self._require().xfer2(list(data)))

    xfer = xfer2

    def writebytes(self, data: list[int]) -> None:
        self._require().xfer2(list(data))

    def readbytes(self, n: int) -> list[int]:
        return self._require().xfer2([0] * n)

    def close(self) -> None:
        self._device = None


# ---------------------------------------------------------------------------------- RPi.GPIO
class _FakeGpio(types.ModuleType):
    """Fake `RPi.GPIO`: records pin modes and outputs; the RST pin of an emulator resets it."""

    BCM, BOARD = 11, 10
    OUT, IN = 0, 1
    HIGH, LOW = 1, 0
    PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
    RISING, FALLING, BOTH = 31, 32, 33
    VERSION = "fake"

    def __init__(self) -> None:
        super().__init__("RPi.GPIO", "Fake RPi.GPIO for simulation and tests (drivers.pi_fakes).")
        self.mode: int | None = None
        self.pin_modes: dict[int, int] = {}
        self.outputs: dict[int, list[int]] = {}      # pin -> every level written, in order

    def setwarnings(self, _flag: bool) -> None:
        pass

    def setmode(self, mode: int) -> None:
        if mode not in (self.BCM, self.BOARD):
            raise ValueError(f"An invalid mode was passed to setmode(): {mode}")
        self.mode = mode

    def getmode(self) -> int | None:
        return self.mode

    def setup(self, pin: int, direction: int, pull_up_down: int = 20, initial: int = -1) -> None:
        if self.mode is None:
            raise RuntimeError("Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) "
                               "or GPIO.setmode(GPIO.BCM)")
        self.pin_modes[pin] = direction
        if direction == self.OUT and initial in (0, 1):
            self.output(pin, initial)

    def output(self, pin: int, value: int) -> None:
        if self.pin_modes.get(pin) != self.OUT:
            raise RuntimeError(f"The GPIO channel {pin} has not been set up as an OUTPUT")
        level = 1 if value else 0
        history = self.outputs.setdefault(pin, [])
        history.append(level)
        with _lock:
            emulator = _rst_pins.get(pin)
        if emulator is not None:
            emulator.set_rst(bool(level))

    def input(self, pin: int) -> int:
        history = self.outputs.get(pin)
        return history[-1] if history else 0

    def level(self, pin: int) -> int | None:
        """Last level written to an output pin (tests)."""
        history = self.outputs.get(pin)
        return history[-1] if history else None

    def cleanup(self, pin: int | list[int] | None = None) -> None:
        pins = list(self.pin_modes) if pin is None else ([pin] if isinstance(pin, int) else pin)
        for p in pins:
            self.pin_modes.pop(p, None)
        if pin is None:
            self.mode = None


def _make_modules() -> dict[str, types.ModuleType]:
    spidev = types.ModuleType("spidev", "Fake spidev for simulation and tests (drivers.pi_fakes).")
    spidev.SpiDev = SpiDev  # type: ignore[attr-defined]
    spidev.__fake__ = True  # type: ignore[attr-defined]
    rpi = types.ModuleType("RPi", "Fake RPi package (drivers.pi_fakes).")
    gpio = _FakeGpio()
    gpio.__fake__ = True  # type: ignore[attr-defined]
    rpi.GPIO = gpio  # type: ignore[attr-defined]
    rpi.__path__ = []  # type: ignore[attr-defined]  # a package, so "import RPi.GPIO" resolves
    return {"spidev": spidev, "RPi": rpi, "RPi.GPIO": gpio}


def install_fake_pi_modules() -> types.ModuleType:
    """Install fake `spidev`, `RPi` and `RPi.GPIO` into `sys.modules` (idempotent); returns the
    fake GPIO module. A `mfrc522` imported earlier is re-pointed at the fakes as well."""
    with _lock:
        gpio = sys.modules.get("RPi.GPIO")
        if not getattr(gpio, "__fake__", False) or not getattr(sys.modules.get("spidev"),
                                                             "__fake__", False):
            sys.modules.update(_make_modules())
        gpio = sys.modules["RPi.GPIO"]
        lib = sys.modules.get("mfrc522.MFRC522")
        if lib is not None:
            lib.GPIO, lib.spidev = gpio, sys.modules["spidev"]  # type: ignore[attr-defined]
        simple = sys.modules.get("mfrc522.SimpleMFRC522")
        if simple is not None:
            simple.GPIO = gpio  # type: ignore[attr-defined]
        return gpio


def fake_gpio() -> _FakeGpio:
    """The installed fake GPIO module (installs the fakes if needed)."""
    return install_fake_pi_modules()  # type: ignore[return-value]


def attach_spi_device(bus: int, device: int, emulator: SpiEmulator, *,
                      rst_pin: int | None = 25) -> None:
    """Make `spidev.SpiDev().open(bus, device)` talk to `emulator`; writes to BCM pin `rst_pin`
    (None: no RST wire) drive the emulator's reset input."""
    install_fake_pi_modules()
    with _lock:
        _devices[(bus, device)] = emulator
        for pin, emu in list(_rst_pins.items()):
            if emu is emulator:
                del _rst_pins[pin]
        if rst_pin is not None:
            _rst_pins[rst_pin] = emulator


def detach_spi_device(bus: int, device: int) -> None:
    """Remove an attached emulator (and its RST wire); opening the device then fails like a Pi
    without SPI enabled."""
    with _lock:
        emulator = _devices.pop((bus, device), None)
        for pin, emu in list(_rst_pins.items()):
            if emu is emulator:
                del _rst_pins[pin]


_MODULE_NAMES = ("spidev", "RPi", "RPi.GPIO", "mfrc522", "mfrc522.MFRC522", "mfrc522.SimpleMFRC522")


@contextmanager
def simulated_spi(emulator: SpiEmulator, bus: int = 0, device: int = 0,
                  rst_pin: int | None = 25) -> Iterator[SpiEmulator]:
    """Fakes installed and `emulator` attached for the duration; afterwards `sys.modules` holds
    again exactly the spidev/RPi/mfrc522 modules it held before (tests use this)."""
    saved = {name: sys.modules.get(name) for name in _MODULE_NAMES}
    attach_spi_device(bus, device, emulator, rst_pin=rst_pin)
    try:
        yield emulator
    finally:
        detach_spi_device(bus, device)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
