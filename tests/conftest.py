"""Shared fixtures: a real mosquitto broker, gpiozero mock pins, a fake clock."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import MosquittoBroker  # noqa: E402

from gate.clock import FakeClock  # noqa: E402


@pytest.fixture
def broker():
    """A fresh mosquitto on a free port, stopped by PID afterwards."""
    b = MosquittoBroker().start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def mock_pins():
    """gpiozero's MockFactory as the default pin factory, reset after the test."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    previous = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = previous


@pytest.fixture
def emu():
    """An MFRC522 emulator behind the fake spidev/RPi.GPIO modules (the RFID tests)."""
    from drivers.mfrc522_emu import Mfrc522Emulator
    from drivers.pi_fakes import fake_gpio, simulated_spi

    e = Mfrc522Emulator()
    with simulated_spi(e, rst_pin=25):
        fake_gpio().mode = None
        yield e


@pytest.fixture
def reader(emu):
    """The real RFID driver opened on the emulator."""
    from drivers.rfid import RfidReader

    with RfidReader(rst_pin=25) as r:
        yield r
