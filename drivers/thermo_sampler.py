"""Samples a thermometer at a fixed rate on a daemon thread and supervises its health.

The sampler owns device health, the screening core owns what a reading means:
- `on_sample(object_c, ambient_c)` for every verified reading while the sensor is healthy;
- `on_fault(detail)` once when it becomes faulty: `fault_threshold` consecutive failed samples, or
  a stuck value (the object reading has not changed by a single LSB over `stuck_samples` samples;
  a live thermopile always shows some noise at 0.02 °C resolution);
- `on_recovered()` once when it reads normally again.
No samples are delivered while faulty, so the consumer never sees a value from a sick sensor after
the fault is declared. Callbacks run on the sampler thread.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

log = logging.getLogger(__name__)

# After a slow read (bus retries) still pause at least this share of the period: never busy.
MIN_PAUSE_SHARE = 0.25


class Thermometer(Protocol):
    def read_object_c(self) -> float: ...

    def read_ambient_c(self) -> float: ...


class _Monotonic(Protocol):
    def monotonic(self) -> float: ...


class _SystemMonotonic:
    def monotonic(self) -> float:
        return time.monotonic()


class ThermometerSampler:
    """Reads `sensor` `rate_hz` times a second and reports samples, faults and recovery."""

    def __init__(self, sensor: Thermometer, *, on_sample: Callable[[float, float], None],
                 on_fault: Callable[[str], None], on_recovered: Callable[[], None],
                 rate_hz: float = 4.0, fault_threshold: int = 3, stuck_samples: int = 20,
                 clock: _Monotonic | None = None, name: str = "thermometer"):
        if not rate_hz > 0:
            raise ValueError(f"thermometer sampler: rate_hz must be > 0, got {rate_hz!r}")
        if fault_threshold < 1:
            raise ValueError(f"thermometer sampler: fault_threshold must be >= 1, got {fault_threshold!r}")
        if stuck_samples != 0 and stuck_samples < 2:
            raise ValueError(f"thermometer sampler: stuck_samples must be 0 (off) or >= 2, got {stuck_samples!r}")
        self._sensor = sensor
        self._on_sample = on_sample
        self._on_fault = on_fault
        self._on_recovered = on_recovered
        self._period = 1.0 / rate_hz
        self._fault_threshold = fault_threshold
        self._stuck_samples = stuck_samples
        self._clock = clock or _SystemMonotonic()
        self._name = name
        self._lock = threading.Lock()            # one sample at a time (thread vs. tests)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failures = 0
        self._last_error = ""
        self._fault: str | None = None            # "read" or "stuck" while faulty
        self._fault_detail: str | None = None
        self._last_object: float | None = None
        self._same_count = 0

    @property
    def is_faulted(self) -> bool:
        return self._fault is not None

    @property
    def fault_detail(self) -> str | None:
        return self._fault_detail

    def start(self) -> None:
        """Start sampling on a daemon thread."""
        if self._closed:
            raise RuntimeError(f"{self._name} sampler: start() after close()")
        if self._thread is not None:
            raise RuntimeError(f"{self._name} sampler: already started")
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-sampler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (waits for the sample in progress). Does not close the sensor. Safe twice."""
        self._closed = True
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 3 * self._period))

    def __enter__(self) -> "ThermometerSampler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sample_once(self) -> bool:
        """Take one sample now and run the callbacks; True if a sample was delivered."""
        with self._lock:
            try:
                object_c = self._sensor.read_object_c()
                ambient_c = self._sensor.read_ambient_c()
            except Exception as exc:  # any driver error means "no reading", never a crash of the loop
                if not isinstance(exc, OSError):
                    log.exception("%s: unexpected error while reading", self._name)
                return self._failed(exc)
            self._failures = 0
            if self._fault == "read":
                self._recover()
            if self._is_stuck(object_c):
                if self._fault is None:
                    self._declare("stuck", f"{self._name}: object temperature stuck at {object_c:.2f} °C "
                                           f"for {self._same_count} samples (no noise at all)")
                return False
            if self._fault == "stuck":
                self._recover()
            self._call(self._on_sample, object_c, ambient_c)
            return True

    def _failed(self, exc: BaseException) -> bool:
        self._failures += 1
        self._last_error = str(exc) or type(exc).__name__
        # The identical-value run survives failed reads: a stuck chip that also NACKs now and then
        # is still stuck. A sensor already declared faulty is not declared again.
        if self._failures >= self._fault_threshold and self._fault is None:
            self._declare("read", f"{self._name}: no valid reading in {self._failures} consecutive "
                                  f"samples: {self._last_error}")
        return False

    def _is_stuck(self, object_c: float) -> bool:
        if object_c == self._last_object:
            self._same_count += 1
        else:
            self._last_object, self._same_count = object_c, 1
        return self._stuck_samples > 0 and self._same_count >= self._stuck_samples

    def _declare(self, kind: str, detail: str) -> None:
        self._fault, self._fault_detail = kind, detail
        log.warning("%s", detail)
        self._call(self._on_fault, detail)

    def _recover(self) -> None:
        log.info("%s: reading normally again (was: %s)", self._name, self._fault_detail)
        self._fault = self._fault_detail = None
        self._call(self._on_recovered)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:  # a consumer's bug must not stop health supervision
            log.exception("%s: callback %r failed", self._name, callback)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._clock.monotonic()
            self.sample_once()
            elapsed = self._clock.monotonic() - started
            self._stop.wait(max(self._period - elapsed, self._period * MIN_PAUSE_SHARE))
