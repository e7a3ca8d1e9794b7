"""Logging a failure that repeats (a full disk fails every journal write): one line with the traceback,
then at most one line per `every` seconds with the count in between, one line when it works again; a
traceback at most once per `traceback_every`. A full SD card must not be filled further by hundreds
of tracebacks, and a failure that comes and goes must not make one line per flip."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable


class FailureLog:
    """`failed(message, exc)` on each failure, `succeeded(what)` on each success. Thread-safe."""

    def __init__(self, logger: logging.Logger, *, level: int = logging.CRITICAL, every: float = 60.0,
                 traceback_every: float = 3600.0, monotonic: Callable[[], float] = time.monotonic):
        self.logger, self.level, self.every, self.traceback_every = logger, level, every, traceback_every
        self._now = monotonic
        self._lock = threading.Lock()
        self._failures = 0  # since the last success
        self._unlogged = 0  # failures not logged since the last line
        self._logged_run = False  # a line of the current run of failures was logged
        self._last_logged = float("-inf")
        self._last_traceback = float("-inf")

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def failed(self, message: str, exc: BaseException | None = None) -> None:
        with self._lock:
            self._failures += 1
            now = self._now()
            if now - self._last_logged < self.every:
                self._unlogged += 1
                return
            unlogged, self._unlogged, self._last_logged, self._logged_run = self._unlogged, 0, now, True
            trace = exc is not None and now - self._last_traceback >= self.traceback_every
            if trace:
                self._last_traceback = now
            failures = self._failures
        more = f" ({unlogged} more since the last line)" if unlogged else ""
        if trace:
            self.logger.log(self.level, "%s%s", message, more, exc_info=exc)
        else:
            self.logger.log(self.level, "%s: %s%s (failing %d times in a row)", message, exc, more, failures)

    def succeeded(self, what: str = "works again") -> None:
        with self._lock:
            failures, logged = self._failures, self._logged_run
            self._failures, self._logged_run = 0, False
        if failures and logged:
            self.logger.warning("%s after %d failure(s)", what, failures)
