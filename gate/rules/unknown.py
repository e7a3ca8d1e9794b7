"""Follow-up of unknown cards: the same unknown UID tried again and again raises one alarm."""
from __future__ import annotations

from collections import OrderedDict, deque

from gate.core.actions import Record


class UnknownCardTracker:
    """Counts attempts per unknown UID on the monotonic clock. The `attempts`-th attempt within
    `window_s` raises `unknown_card_repeated`; the count then restarts, so a card held against the
    reader for minutes raises one alarm per `attempts` taps, not one per tap. At most `max_cards`
    UIDs are remembered (the least recently seen is forgotten), so a flood of random UIDs cannot
    grow memory."""

    def __init__(self, attempts: int, window_s: float, *, max_cards: int = 1000):
        self.attempts = attempts
        self.window_s = window_s
        self.max_cards = max_cards
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, card: str, mono: float, reader: str) -> list[Record]:
        if self.attempts <= 0:
            return []
        times = self._seen.pop(card, None) or deque()
        times.append(mono)
        while times and times[0] <= mono - self.window_s:
            times.popleft()
        if len(times) >= self.attempts:
            self._seen.pop(card, None)
            return [
                Record(
                    "unknown_card_repeated",
                    {"card": card, "reader": reader, "attempts": len(times), "window_seconds": self.window_s},
                )
            ]
        self._seen[card] = times
        while len(self._seen) > self.max_cards:
            self._seen.popitem(last=False)
        return []
