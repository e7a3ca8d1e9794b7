"""Fan-out of stored records to the browsers' event streams (`GET /api/stream`).

The consumer's worker thread calls `publish`; each stream owns a bounded asyncio queue on the server's
loop. A stream that falls behind by `maxsize` records is ended rather than grown: the browser's
EventSource reconnects and the page reloads the board, so a slow client never costs memory or delays
anyone else's alarm.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

OVERFLOW = object()


class EventHub:
    """Thread-safe publisher to any number of asyncio subscribers."""

    def __init__(self, *, maxsize: int = 1000):
        self._lock = threading.Lock()
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._maxsize = maxsize

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=self._maxsize + 1)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subs = {s for s in self._subs if s[1] is not queue}

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, gate: str, record: dict[str, Any]) -> None:
        """Hand one record to every stream (from any thread); never blocks."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            subs = list(self._subs)
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(self._put, queue, gate, line)
            except RuntimeError:  # that loop is closed: the server is stopping
                self.unsubscribe(queue)

    def close(self) -> None:
        """End every stream (the server is stopping): each generator returns on OVERFLOW."""
        with self._lock:
            subs, self._subs = list(self._subs), set()
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, OVERFLOW)
            except RuntimeError:
                pass

    def _put(self, queue: asyncio.Queue, gate: str, line: str) -> None:
        if queue.qsize() >= self._maxsize:
            if queue.qsize() == self._maxsize:
                queue.put_nowait(OVERFLOW)
            return
        queue.put_nowait((gate, line))
