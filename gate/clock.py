"""Clocks, injected everywhere: timers run on `monotonic()`, records are stamped with `wall()`."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...


class SystemClock:
    """The real clocks: time.monotonic for timers, UTC wall time for timestamps."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock for tests. `advance` moves both clocks; `jump_wall` moves only the wall clock
    (an NTP correction or a Pi booting without RTC) and must never change a timer."""

    def __init__(self, wall: datetime | None = None, mono: float = 1000.0):
        self._mono = mono
        self._wall = wall or datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def wall(self) -> datetime:
        with self._lock:
            return self._wall

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._mono += seconds
            self._wall += timedelta(seconds=seconds)

    def jump_wall(self, delta: timedelta) -> None:
        with self._lock:
            self._wall += delta
