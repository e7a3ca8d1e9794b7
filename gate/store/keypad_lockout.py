"""The keypad's lockout state across restarts: one row in the registry database.

The core's `KeypadEntry` exports its lockout state as durations (`LockoutState`); this store keeps
the latest one with the wall time it was saved at, committed with synchronous=FULL (a power cut
right after a lockout must not lift it). On load the time the gate was down is subtracted, from
the wall clock: a clock that went backwards counts as no time passed (the lockout is kept whole,
never shortened), and nothing can lengthen a lockout beyond what the core's settings allow. A
missing or unreadable row is no lockout (and is logged): the PIN check itself never depends on it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from datetime import datetime

from gate.core.keypad_entry import LockoutState
from gate.store.base import SqliteStore

log = logging.getLogger("gate.keypad_lockout")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keypad_lockout (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    state    TEXT NOT NULL,
    saved_at REAL NOT NULL
)
"""


class KeypadLockoutStore(SqliteStore):
    """Load and save the keypad's `LockoutState` (one row)."""

    SCHEMA = _SCHEMA
    WHAT = "keypad lockout state"

    def _prepare(self) -> None:
        self._conn.execute("PRAGMA synchronous=FULL")

    def save(self, state: LockoutState, wall: datetime) -> None:
        body = json.dumps({**asdict(state), "lockout_ages_s": list(state.lockout_ages_s)}, sort_keys=True)
        with self._transaction() as conn:
            conn.execute("INSERT INTO keypad_lockout (id, state, saved_at) VALUES (1, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
                         (body, wall.timestamp()))

    def load(self, wall: datetime) -> LockoutState | None:
        """The saved state aged by the time since it was saved (never by a negative time)."""
        with self._lock:
            row = self._conn.execute("SELECT state, saved_at FROM keypad_lockout WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            raw = json.loads(row[0])
            state = LockoutState(failures=int(raw["failures"]), lockouts=int(raw["lockouts"]),
                                 locked_for_s=float(raw["locked_for_s"]),
                                 quiet_for_s=None if raw["quiet_for_s"] is None else float(raw["quiet_for_s"]),
                                 lockout_ages_s=tuple(float(a) for a in raw["lockout_ages_s"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s: keypad lockout state unreadable (%s); starting without one", self.path, exc)
            return None
        down = max(0.0, wall.timestamp() - float(row[1]))
        return replace(state, locked_for_s=max(0.0, state.locked_for_s - down),
                       quiet_for_s=None if state.quiet_for_s is None else state.quiet_for_s + down,
                       lockout_ages_s=tuple(a + down for a in state.lockout_ages_s))
