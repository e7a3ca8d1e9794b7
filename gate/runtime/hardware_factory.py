"""The one hardware factory: builds every driver for `hardware.mode` "pi" or "simulated".

In simulation the drivers are the same classes as on a Pi; only the bottom bus is emulated:
gpiozero MockFactory pins, an MFRC522 register emulator behind fake spidev/RPi.GPIO, an MLX90614
emulator behind a duck-typed SMBus.
"""
from __future__ import annotations

from gate.config.schema import Config
from gate.runtime.hardware import Hardware, build_pi_hardware


def build_hardware(cfg: Config, *, pin_factory=None, lock_engaged: bool = True) -> Hardware:
    """Build the gate's devices, the lock relay first. On failure, whatever was opened is closed
    again. `lock_engaged=False` claims the relay unpowered (its safe state; `hw.lock.engage()` later)."""
    if cfg.hardware.mode == "simulated":
        from gate.runtime.simulator import build_simulated_hardware

        return build_simulated_hardware(cfg, pin_factory=pin_factory, lock_engaged=lock_engaged)
    return build_pi_hardware(cfg, pin_factory=pin_factory, lock_engaged=lock_engaged)
