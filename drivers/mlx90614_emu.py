"""An emulated MLX90614 behind a duck-typed SMBus: `i2c_rdwr` fills smbus2 `i2c_msg` read buffers
exactly like the kernel would, PEC included, so the real driver runs unmodified against it.

Every setter is thread-safe: the simulator's control thread changes the scene while the sampler
thread reads. Faults (`nack`, `corrupt_pec`, `error_flag`) take `True` (until cleared), `False`,
or a number N (only the next N transactions), which is how retries are tested.
"""
from __future__ import annotations

import errno
import random
import threading
from typing import Any

from drivers.mlx90614 import (DEFAULT_ADDRESS, ERROR_FLAG, REG_AMBIENT, REG_OBJECT_1, REG_OBJECT_2,
                              celsius_to_raw, frame_pec)

I2C_M_RD = 0x0001
# With nobody in front the thermopile sees the wall behind, a little cooler than the sensor die.
BACKGROUND_BELOW_AMBIENT_C = 0.3
_FOREVER = -1


class _Fault:
    """A fault switch: off, on until cleared, or on for the next N transactions."""

    def __init__(self) -> None:
        self.remaining = 0

    def set(self, value: bool | int) -> None:
        if isinstance(value, bool):
            self.remaining = _FOREVER if value else 0
        elif isinstance(value, int) and value >= 0:
            self.remaining = value
        else:
            raise ValueError(f"fault must be True, False or a count >= 0, got {value!r}")

    def get(self) -> bool | int:
        return True if self.remaining == _FOREVER else self.remaining

    def fire(self) -> bool:
        """True if this transaction is faulted (and consume one count)."""
        if self.remaining == 0:
            return False
        if self.remaining > 0:
            self.remaining -= 1
        return True


class EmulatedMlx90614:
    """A simulated MLX90614 on its own emulated I2C bus.

    `object_c` is what a person in front reads (None: nobody, it reads the background near
    ambient); `noise_c` is the standard deviation of Gaussian noise from a seeded RNG; `stuck` freezes
    every register at its current raw value (valid PEC, so only the sampler's stuck check sees it).
    """

    def __init__(self, address: int = DEFAULT_ADDRESS, ambient_c: float = 22.0, *,
                 object_c: float | None = None, noise_c: float = 0.05, seed: int = 0):
        self._lock = threading.Lock()
        self._address = address
        self._ambient_c = float(ambient_c)
        self._object_c = None if object_c is None else float(object_c)
        self._noise_c = float(noise_c)
        self._rng = random.Random(seed)
        self._nack = _Fault()
        self._corrupt_pec = _Fault()
        self._error_flag = _Fault()
        self._stuck = False
        self._frozen: dict[int, int] = {}
        self._last_raw: dict[int, int] = {}
        self.transactions = 0

    # -- the scene ---------------------------------------------------------------------------
    @property
    def address(self) -> int:
        return self._address

    @property
    def object_c(self) -> float | None:
        with self._lock:
            return self._object_c

    @object_c.setter
    def object_c(self, value: float | None) -> None:
        with self._lock:
            self._object_c = None if value is None else float(value)

    @property
    def ambient_c(self) -> float:
        with self._lock:
            return self._ambient_c

    @ambient_c.setter
    def ambient_c(self, value: float) -> None:
        with self._lock:
            self._ambient_c = float(value)

    @property
    def noise_c(self) -> float:
        with self._lock:
            return self._noise_c

    @noise_c.setter
    def noise_c(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"noise_c must be >= 0, got {value!r}")
        with self._lock:
            self._noise_c = float(value)

    # -- faults ------------------------------------------------------------------------------
    @property
    def nack(self) -> bool | int:
        with self._lock:
            return self._nack.get()

    @nack.setter
    def nack(self, value: bool | int) -> None:
        with self._lock:
            self._nack.set(value)

    @property
    def corrupt_pec(self) -> bool | int:
        with self._lock:
            return self._corrupt_pec.get()

    @corrupt_pec.setter
    def corrupt_pec(self, value: bool | int) -> None:
        with self._lock:
            self._corrupt_pec.set(value)

    @property
    def error_flag(self) -> bool | int:
        with self._lock:
            return self._error_flag.get()

    @error_flag.setter
    def error_flag(self, value: bool | int) -> None:
        with self._lock:
            self._error_flag.set(value)

    @property
    def stuck(self) -> bool:
        with self._lock:
            return self._stuck

    @stuck.setter
    def stuck(self, value: bool) -> None:
        with self._lock:
            self._stuck = bool(value)
            self._frozen = dict(self._last_raw) if self._stuck else {}

    # -- the bus -----------------------------------------------------------------------------
    def i2c_rdwr(self, *msgs: Any) -> None:
        """Serve one combined read-word transaction: write [register], then read 3 bytes."""
        if len(msgs) != 2 or msgs[0].flags & I2C_M_RD or not msgs[1].flags & I2C_M_RD \
                or len(msgs[0]) != 1 or len(msgs[1]) != 3:
            raise OSError(errno.EIO, "emulated MLX90614: only write[reg] + read[3] is supported")
        if any(m.addr != self._address for m in msgs):
            raise OSError(errno.EREMOTEIO, "Remote I/O error (no device at that address)")
        register = bytes(msgs[0])[0]
        with self._lock:
            self.transactions += 1
            if self._nack.fire():
                raise OSError(errno.EREMOTEIO, "Remote I/O error")
            raw = self._raw(register)
            if self._error_flag.fire():
                raw |= ERROR_FLAG
            lsb, msb = raw & 0xFF, raw >> 8
            pec = frame_pec(self._address, register, lsb, msb)
            if self._corrupt_pec.fire():
                pec ^= 0x01
        for i, byte in enumerate((lsb, msb, pec)):
            msgs[1].buf[i] = bytes([byte])

    def _raw(self, register: int) -> int:
        if self._stuck:
            frozen = self._frozen.get(register)
            if frozen is None:
                frozen = self._frozen[register] = self._fresh_raw(register)
            return frozen
        raw = self._fresh_raw(register)
        self._last_raw[register] = raw
        return raw

    def _fresh_raw(self, register: int) -> int:
        if register == REG_AMBIENT:
            return celsius_to_raw(self._ambient_c)
        if register in (REG_OBJECT_1, REG_OBJECT_2):
            scene = self._object_c
            if scene is None:
                scene = self._ambient_c - BACKGROUND_BELOW_AMBIENT_C
            noise = self._rng.gauss(0.0, self._noise_c) if self._noise_c > 0 else 0.0
            return celsius_to_raw(scene + noise)
        return 0  # other RAM cells: raw sensor data the driver never reads

    def close(self) -> None:
        """Nothing to release; present so the emulator stands in for an SMBus everywhere."""

    def __enter__(self) -> "EmulatedMlx90614":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
