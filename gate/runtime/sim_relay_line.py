"""The lock relay's GPIO line in simulation, kept the way a Raspberry Pi kernel keeps it.

On a Pi a line keeps its last level after the process that drove it dies without closing it
(SIGKILL, OOM kill, watchdog abort): RPi.GPIO writes the registers through /dev/gpiomem and the Pi
kernel keeps freed gpiochip lines driven by default. A gpiozero mock pin dies with its process, so
simulation could not show that. Here the lock pin's level lives in a small append-only log in the
storage folder (`sim-relay.log`, one JSON object per line: wall time, pid, who, level, function).
The next process reads its line from the last entry, exactly as it would find the real line, and
`gatectl relay-safe` drives it in simulation through the same log. The log is the relay's history
for tests and for the curious: `tail storage.dir/sim-relay.log`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gpiozero.pins.mock import MockPWMPin

LOG_NAME = "sim-relay.log"
MAX_LOG_BYTES = 64 * 1024  # then compacted to its last entry: the current level is all that matters


def relay_log_path(storage_dir: Path) -> Path:
    return Path(storage_dir) / LOG_NAME


def read_entries(path: Path) -> list[dict]:
    """Every entry of the log (a torn last line, from a kill mid-write, is skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in (0, 1):
            entries.append(entry)
    return entries


def current_level(path: Path) -> int | None:
    """The line's level as the last process left it; None if no process ever drove it."""
    entries = read_entries(path)
    return entries[-1]["level"] if entries else None


def append_entry(path: Path, level: int, function: str, by: str) -> None:
    """Add one entry (created 0600); compact the log to this entry once it has grown large."""
    entry = json.dumps({"ts": round(time.time(), 6), "pid": os.getpid(), "by": by, "level": int(level),
                        "function": function}, sort_keys=True) + "\n"
    path = Path(path)
    try:
        large = path.stat().st_size > MAX_LOG_BYTES
    except FileNotFoundError:
        large = False
    if large:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(entry)
        os.replace(tmp, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(entry)


class RetainedLinePin(MockPWMPin):
    """A mock pin that starts at the level the log says and records every level and function change."""

    def __init__(self, factory, info, *, log_path: Path, by: str = "daemon"):
        super().__init__(factory, info)
        self._log_path = Path(log_path)
        self._by = by
        level = current_level(self._log_path)
        if level is not None:
            self._state = bool(level)  # what the line still reads after the last process died
            self.clear_states()

    def _change_state(self, value):
        # The log first, then the level: whoever sees the new level (`sim state`, a test about to
        # SIGKILL the process) can rely on the retained line having it too.
        if self._state != value:
            self._record(level=int(bool(value)))
        return super()._change_state(value)

    def _set_function(self, value):
        before = self._function
        super()._set_function(value)
        if value != before:
            self._record()

    def _record(self, level: int | None = None) -> None:
        try:
            append_entry(self._log_path, int(bool(self._state)) if level is None else level, self._function, self._by)
        except OSError:
            pass  # the simulated history is a witness, never a reason to fail the relay


def attach_retained_lock_line(factory, lock_pin: int, storage_dir: Path) -> None:
    """Make the factory's lock pin a retained line (before anything claims it). A pin the factory
    already holds (a second daemon in the same test process) keeps its own state."""
    storage_dir = Path(storage_dir)
    storage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    factory.pin(lock_pin, pin_class=RetainedLinePin, log_path=relay_log_path(storage_dir))


def drive_safe(storage_dir: Path, safe_level: int) -> int | None:
    """`gatectl relay-safe` in simulation: drive the line to `safe_level`; return the level it had
    (None: no process had driven it)."""
    Path(storage_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = relay_log_path(storage_dir)
    before = current_level(path)
    append_entry(path, safe_level, "output", "relay-safe")
    return before
