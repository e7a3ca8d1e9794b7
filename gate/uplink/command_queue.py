"""The queue between paho's network thread and the uplink worker: bounded in entries *and* bytes.

`offer()` runs on the network thread, so it only measures: a payload over MAX_PAYLOAD_BYTES is
queued as its size alone (the worker answers it `malformed` without ever holding it), and a payload
that would take the queue past `max_bytes` or `max_items` is dropped and counted. The worker takes
the count with `take_dropped()` and answers it with one summary (reason `overloaded`), so every
payload ends in an answer or a counted summary. Memory held for commands is at most `max_bytes`.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from gate.uplink.rejection import MAX_PAYLOAD_BYTES

MAX_QUEUED_COMMANDS = 256
MAX_QUEUED_BYTES = 4 * MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class QueuedCommand:
    payload: bytes | None  # None: too big to keep (see size)
    size: int
    retained: bool


class CommandQueue:
    """Thread-safe FIFO of raw command payloads (see the module docstring)."""

    def __init__(self, *, max_items: int = MAX_QUEUED_COMMANDS, max_bytes: int = MAX_QUEUED_BYTES):
        self.max_items, self.max_bytes = max_items, max_bytes
        self._lock = threading.Lock()
        self._items: deque[QueuedCommand] = deque()
        self._bytes = 0
        self._dropped = 0

    def offer(self, payload: bytes, retained: bool) -> bool:
        """Queue a payload; False when it was dropped (counted for the summary)."""
        size = len(payload)
        item = QueuedCommand(payload if size <= MAX_PAYLOAD_BYTES else None, size, retained)
        held = size if item.payload is not None else 0
        with self._lock:
            if len(self._items) >= self.max_items or self._bytes + held > self.max_bytes:
                self._dropped += 1
                return False
            self._items.append(item)
            self._bytes += held
            return True

    def take(self) -> QueuedCommand | None:
        with self._lock:
            if not self._items:
                return None
            item = self._items.popleft()
            if item.payload is not None:
                self._bytes -= item.size
            return item

    def take_dropped(self) -> int:
        """Payloads dropped since the last call."""
        with self._lock:
            n, self._dropped = self._dropped, 0
            return n

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __bool__(self) -> bool:
        return len(self) > 0
