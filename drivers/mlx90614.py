"""Melexis MLX90614 infrared thermometer on I2C (SMBus), read with a checked PEC.

smbus2's `read_word_data` hides the PEC byte, so every read here is one combined transaction
`i2c_rdwr(write [reg], read 3)` and the CRC-8 over the whole SMBus frame is checked by hand. A
reading that fails the PEC, carries the error flag (bit 15) or is NACKed is retried; when every
attempt fails the driver raises `DeviceFault` naming the sensor, register and last failure. It never
returns a temperature it could not verify.
"""
from __future__ import annotations

import errno
import time
from typing import Any, Protocol

from smbus2 import i2c_msg

from drivers.errors import DeviceConfigError, DeviceFault

DEFAULT_ADDRESS = 0x5A
REG_AMBIENT = 0x06          # Ta, the sensor die temperature
REG_OBJECT_1 = 0x07         # Tobj1, the thermopile's object temperature (zone 1)
REG_OBJECT_2 = 0x08         # Tobj2, only on dual-zone parts
ERROR_FLAG = 0x8000         # bit 15 of a RAM temperature word: the reading is invalid
KELVIN_PER_LSB = 0.02
ZERO_C_IN_K = 273.15

# Errnos the Linux I2C drivers use for a NACK or a glitch on the wire: worth another attempt.
# Anything else (EBADF after close, ENODEV when the adapter vanished) will not get better.
TRANSIENT_ERRNOS = frozenset({errno.EREMOTEIO, errno.EIO, errno.ENXIO, errno.ETIMEDOUT, errno.EAGAIN})


class I2cBus(Protocol):
    """What the driver needs from a bus: smbus2.SMBus, or an emulator with the same method."""

    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...


def crc8(data: bytes | bytearray | list[int]) -> int:
    """SMBus PEC: CRC-8, polynomial x^8+x^2+x+1 (0x07), initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def frame_pec(address: int, register: int, lsb: int, msb: int) -> int:
    """PEC of a read-word frame: address+W, command, address+R, data low, data high."""
    return crc8([address << 1, register, (address << 1) | 1, lsb, msb])


def raw_to_celsius(raw: int) -> float:
    """RAM temperature word (0.02 K per LSB) to degrees Celsius, rounded to the sensor's resolution."""
    return round(raw * KELVIN_PER_LSB - ZERO_C_IN_K, 2)


def celsius_to_raw(celsius: float) -> int:
    """Degrees Celsius to the nearest RAM temperature word (halves round up), clamped to 15 bits."""
    # The epsilon keeps e.g. 37.30 °C (exactly half an LSB in decimal) from rounding down through
    # binary float error: 37.30 must read back as 37.31, never as 37.29.
    raw = int((celsius + ZERO_C_IN_K) / KELVIN_PER_LSB + 0.5 + 1e-9)
    return max(0, min(raw, 0x7FFF))


class Mlx90614:
    """One MLX90614 on an I2C bus.

    `bus` is an `smbus2.SMBus` or anything with a compatible `i2c_rdwr(*msgs)` (the emulator).
    `retries` is the number of extra attempts after the first failed one. `close()` closes the bus
    only when this object opened it (`open_bus`).
    """

    def __init__(self, bus: I2cBus, address: int = DEFAULT_ADDRESS, *, retries: int = 3,
                 retry_delay: float = 0.002, owns_bus: bool = False):
        if not isinstance(address, int) or not 0x01 <= address <= 0x7F:
            raise DeviceConfigError(f"MLX90614: I2C address must be 0x01..0x7F, got {address!r}")
        if not isinstance(retries, int) or retries < 0:
            raise DeviceConfigError(f"MLX90614: retries must be a non-negative integer, got {retries!r}")
        self._bus: I2cBus | None = bus
        self._address = address
        self._retries = retries
        self._retry_delay = retry_delay
        self._owns_bus = owns_bus

    @classmethod
    def open_bus(cls, bus_number: int, address: int = DEFAULT_ADDRESS, *, retries: int = 3) -> "Mlx90614":
        """Open /dev/i2c-N with smbus2 (pi mode); the returned sensor owns and closes the bus."""
        from smbus2 import SMBus

        try:
            bus = SMBus(bus_number)
        except OSError as exc:
            raise DeviceFault(
                f"thermometer: cannot open I2C bus {bus_number} (/dev/i2c-{bus_number}): {exc}; "
                "is I2C enabled (raspi-config, dtparam=i2c_arm=on)?") from exc
        try:
            return cls(bus, address, retries=retries, owns_bus=True)
        except BaseException:
            bus.close()
            raise

    @property
    def address(self) -> int:
        return self._address

    @property
    def closed(self) -> bool:
        return self._bus is None

    def __repr__(self) -> str:
        return f"Mlx90614(address=0x{self._address:02X}{', closed' if self.closed else ''})"

    def read_object_c(self) -> float:
        """Object (thermopile) temperature in °C; raises DeviceFault when it cannot be verified."""
        return raw_to_celsius(self.read_raw(REG_OBJECT_1))

    def read_ambient_c(self) -> float:
        """Ambient (die) temperature in °C; raises DeviceFault when it cannot be verified."""
        return raw_to_celsius(self.read_raw(REG_AMBIENT))

    def read_raw(self, register: int) -> int:
        """One RAM temperature word with PEC and error flag checked, retried on transient failures."""
        failure = ""
        for attempt in range(self._retries + 1):
            if attempt and self._retry_delay > 0:
                time.sleep(self._retry_delay)
            bus = self._bus
            if bus is None:
                raise DeviceFault(f"thermometer {self._name()}: read after close")
            write = i2c_msg.write(self._address, [register])
            read = i2c_msg.read(self._address, 3)
            try:
                bus.i2c_rdwr(write, read)
            except OSError as exc:
                if exc.errno not in TRANSIENT_ERRNOS:
                    raise DeviceFault(
                        f"thermometer {self._name()}: register 0x{register:02X}: I2C error: {exc}") from exc
                failure = f"no answer (NACK / {errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror or exc})"
                continue
            lsb, msb, pec = bytes(read)
            expected = frame_pec(self._address, register, lsb, msb)
            if pec != expected:
                failure = f"PEC mismatch (got 0x{pec:02X}, expected 0x{expected:02X})"
                continue
            raw = lsb | (msb << 8)
            if raw & ERROR_FLAG:
                failure = f"error flag set in the reading (raw 0x{raw:04X})"
                continue
            return raw
        raise DeviceFault(f"thermometer {self._name()}: register 0x{register:02X}: {failure} "
                          f"after {self._retries + 1} attempts")

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None and self._owns_bus:
            bus.close()  # type: ignore[attr-defined]

    def __enter__(self) -> "Mlx90614":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _name(self) -> str:
        return f"MLX90614 at 0x{self._address:02X}"
