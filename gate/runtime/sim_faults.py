"""Faults of the emulated devices, from `[hardware.simulation]` in the config.

`apply_simulated_faults(hw, cfg)` runs at the end of `build_simulated_hardware` (after the drivers
have started against healthy chips), so the gate comes up as it would on a Pi whose part failed
later, and `gatectl doctor` shows what an installer would see. Applying twice is harmless.
"""
from __future__ import annotations

import logging

from gate.config.schema import Config

log = logging.getLogger("gate.sim_faults")

# MISO of an SPI bus with no chip on it reads all zeros on a Pi (the line idles low).
ABSENT_CHIP_READS = 0x00
THERMOMETER_FAULTS = ("nack", "corrupt_pec", "error_flag", "stuck")


def apply_simulated_faults(hw, cfg: Config) -> None:
    """Set the configured faults on the emulators of `hw.simulator` (no-op outside simulation)."""
    sim = getattr(hw, "simulator", None)
    if sim is None:
        return
    faults = cfg.hardware.simulation
    if sim.rfid is not None:
        sim.rfid.set_absent(ABSENT_CHIP_READS if faults.rfid_chip == "absent" else None)
        if faults.rfid_chip == "absent":
            log.warning("simulation: the RFID reader chip is absent (hardware.simulation.rfid_chip)")
    thermometer = sim.thermometer
    if thermometer is not None:
        for fault in THERMOMETER_FAULTS:
            setattr(thermometer, fault, faults.thermometer == fault)
        if faults.thermometer != "ok":
            log.warning("simulation: thermometer fault %r (hardware.simulation.thermometer)",
                        faults.thermometer)
