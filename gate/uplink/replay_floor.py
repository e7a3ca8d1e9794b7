"""A durable floor under the `issued_at` of station commands, so no replay outlives a clock jump.

The journal remembers accepted cmd_ids for 30 days by the gate's *wall clock*: push the clock a month
ahead, let retention forget the ids, set it back, and a captured command would be fresh and unknown
again (audit F6). The floor closes that without trusting the gate's clock at all: it lives in the
station's time, the `issued_at` of accepted commands.

- `high_water`: the newest `issued_at` ever accepted. A command issued more than `window_seconds`
  before it is refused (`stale`): the station signs in order, and the window (the freshness skew)
  covers commands overtaking each other on the way.
- `recent`: every accepted cmd_id whose `issued_at` is still at or above the floor. These are exactly
  the ids a replay could still use, and they are kept here, pruned only when the floor passes them,
  never by any clock. At most `max_recent` (a burst beyond it raises the floor over the oldest).

Saved (write, fsync, rename, fsync of the folder) before a command acts. An unreadable file is set
aside and the floor restarts at the gate's clock (logged): commands issued before that are refused.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from gate.store.atomic import write_atomically
from pathlib import Path

log = logging.getLogger("gate.uplink")

FILE_NAME = "command-floor.json"


class ReplayFloor:
    """`admits(issued)`, `seen(cmd_id)`, `accept(cmd_id, issued)`; times are epoch seconds (issued_at)."""

    def __init__(self, path: str | Path, *, window_seconds: float, max_recent: int = 10_000,
                 now: float | None = None):
        self.path = Path(path)
        self.window_seconds = window_seconds
        self.max_recent = max_recent
        self._lock = threading.Lock()
        self.high_water = float("-inf")
        self.floor = float("-inf")
        self.recent: dict[str, float] = {}
        self._load(now)

    def _load(self, now: float | None) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.high_water = float(data["high_water"])
            self.floor = float(data["floor"])
            self.recent = {str(k): float(v) for k, v in dict(data["recent"]).items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_name(self.path.name + ".damaged")
            log.error("%s: unreadable (%s); moved to %s; commands issued before now are refused",
                      self.path, exc, aside.name)
            try:
                os.replace(self.path, aside)
            except OSError:
                log.exception("cannot move %s aside", self.path)
            self.high_water = self.floor = now if now is not None else float("inf")
            self.recent = {}

    def admits(self, issued: float) -> bool:
        """False when a command issued at `issued` lies below the floor (its id may be forgotten)."""
        with self._lock:
            return issued >= max(self.floor, self.high_water - self.window_seconds)

    def seen(self, cmd_id: str) -> bool:
        with self._lock:
            return cmd_id in self.recent

    def accept(self, cmd_id: str, issued: float) -> None:
        """Remember an accepted command durably (raises OSError when it cannot be saved)."""
        with self._lock:
            recent = dict(self.recent)
            recent[cmd_id] = issued
            high = max(self.high_water, issued)
            floor = max(self.floor, high - self.window_seconds)
            recent = {k: v for k, v in recent.items() if v >= floor}
            if len(recent) > self.max_recent:
                ordered = sorted(recent.items(), key=lambda kv: kv[1])
                dropped = ordered[: len(recent) - self.max_recent]
                floor = max(floor, dropped[-1][1] + 1e-3)
                recent = {k: v for k, v in recent.items() if v >= floor}
            self._save(high, floor, recent)
            self.high_water, self.floor, self.recent = high, floor, recent

    def _save(self, high: float, floor: float, recent: dict[str, float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"high_water": high, "floor": floor, "recent": recent}, separators=(",", ":"))
        write_atomically(self.path, data.encode("utf-8"), mode=0o600)
