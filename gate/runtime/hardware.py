"""The gate's devices on a Raspberry Pi: the `Hardware` bundle, the GPIO parts and the Pi factory.

`gate.runtime.hardware_factory.build_hardware` picks this factory or the simulated one
(`gate.runtime.simulator`), which reuses the GPIO parts and the close helpers here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from drivers.gpio_parts import BinaryInput, Indicators, LockRelay

from gate.config.schema import Config
from gate.runtime.keypad_hw import build_keypad

log = logging.getLogger("gate.hardware")

INPUT_BOUNCE_S = 0.05  # exit button, fire and tamper inputs: contact bounce on real pins


@dataclass
class Hardware:
    """Every device of one gate. `simulator` is set in simulated mode only."""

    lock: LockRelay
    door: BinaryInput
    exit_button: BinaryInput
    fire: BinaryInput
    tamper: BinaryInput
    indicators: Indicators
    rfid_reader: Any = None
    thermometer: Any = None
    simulator: Any = None
    osdp_panel: Any = None
    matrix_keypad: Any = None
    keypad_sink: Any = None
    pin_factory: Any = None
    extra: list = field(default_factory=list)

    def close(self) -> None:
        """Close inputs and outputs, the lock relay last (unpowered; the daemon drops it first anyway)."""
        close_all([self.osdp_panel, self.matrix_keypad, *self.extra, self.thermometer, self.rfid_reader,
                   self.indicators, self.exit_button, self.fire, self.tamper, self.door, self.lock])


def _gpio_parts(cfg: Config, pin_factory, opened: list, lock_engaged: bool = True) -> dict:
    g = cfg.hardware.gpio

    def keep(dev):
        opened.append(dev)
        return dev

    return dict(
        lock=keep(LockRelay(g.lock_pin, wiring=cfg.lock.wiring, active_high=g.lock_relay_active_high,
                            engaged=lock_engaged, pin_factory=pin_factory)),
        door=keep(BinaryInput(g.door_pin, active_when_high=g.door_open_is_high, pin_factory=pin_factory)),
        exit_button=keep(BinaryInput(g.exit_pin, active_when_high=False, bounce_time=INPUT_BOUNCE_S,
                                     pin_factory=pin_factory)),
        fire=keep(BinaryInput(g.fire_pin, active_when_high=False, bounce_time=INPUT_BOUNCE_S, pin_factory=pin_factory)),
        tamper=keep(BinaryInput(g.tamper_pin, active_when_high=True, bounce_time=INPUT_BOUNCE_S,
                                pin_factory=pin_factory)),
        indicators=keep(Indicators(g.green_led_pin, g.red_led_pin, g.buzzer_pin, pin_factory=pin_factory)),
    )


def close_all(devices: list) -> None:
    """Close each device in order (None skipped); one failing close never stops the others."""
    for dev in devices:
        if dev is None:
            continue
        try:
            dev.close()
        except Exception:
            log.exception("closing %r failed", dev)


def close_opened(opened: list) -> None:
    """Undo a failed start: close what was opened, newest first."""
    close_all(list(reversed(opened)))


def build_pi_hardware(cfg: Config, *, pin_factory=None, lock_engaged: bool = True) -> Hardware:
    """The devices of a Raspberry Pi gate, the lock relay first. On failure, whatever was opened is
    closed again (the relay unpowered). `lock_engaged=False` claims the relay unpowered."""
    opened: list = []
    try:
        parts = _gpio_parts(cfg, pin_factory, opened, lock_engaged)
        hw = Hardware(**parts, pin_factory=pin_factory)
        if cfg.hardware.rfid.enabled:
            from drivers.rfid import RfidReader

            r = cfg.hardware.rfid
            hw.rfid_reader = RfidReader(r.spi_bus, r.spi_device, rst_pin=r.rst_pin)
            opened.append(hw.rfid_reader)
        if cfg.hardware.thermometer.enabled:
            from drivers.mlx90614 import Mlx90614

            t = cfg.hardware.thermometer
            hw.thermometer = Mlx90614.open_bus(t.i2c_bus, t.address, retries=t.retries)
            opened.append(hw.thermometer)
        build_keypad(cfg, hw, pin_factory, opened)
        return hw
    except Exception:
        close_opened(opened)
        raise


def build_gpio_parts(cfg: Config, pin_factory, opened: list, *, lock_engaged: bool = True) -> dict:
    """The GPIO devices alone (shared by the simulated factory)."""
    return _gpio_parts(cfg, pin_factory, opened, lock_engaged)
