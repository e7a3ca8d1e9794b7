"""Logging a failure that repeats (a full disk fails every journal write): the first one with its
traceback, then at most one line per `every` seconds with the count in between, then one line when
it works again. A full SD card must not be filled further by hundreds of tracebacks."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable


class FailureLog:
    """`failed(message, exc)` on each failure, `succeeded()` on each success. Thread-safe."""

    def __init__(self, logger: logging.Logger, *, level: int = logging.CRITICAL, every: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.logger, self.level, self.every, self._now = logger, level, every, monotonic
        self._lock = threading.Lock()
        self._failures = 0  # since the last success
        self._unlogged = 0
        self._last_logged = float("-inf")

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def failed(self, message: str, exc: BaseException | None = None) -> None:
        with self._lock:
            self._failures += 1
            first = self._failures == 1
            now = self._now()
            if not first and now - self._last_logged < self.every:
                self._unlogged += 1
                return
            unlogged, self._unlogged, self._last_logged = self._unlogged, 0, now
        if first:
            self.logger.log(self.level, "%s", message, exc_info=exc)
        else:
            more = f" ({unlogged} more since the last line)" if unlogged else ""
            self.logger.log(self.level, "%s: %s%s (failing %d times in a row)", message, exc, more, self._failures)

    def succeeded(self, what: str = "works again") -> None:
        with self._lock:
            failures, self._failures, self._unlogged = self._failures, 0, 0
            self._last_logged = float("-inf")
        if failures:
            self.logger.warning("%s after %d failure(s)", what, failures)
