"""The keypad lockout across restarts: the entry starts from the lockout the last run left (its
downtime subtracted), and a main-loop hook saves it whenever it changes (docs/osdp.md)."""
from __future__ import annotations

import logging
from typing import Callable

from gate.clock import Clock
from gate.core.errors import GateError
from gate.core.keypad_entry import KeypadEntry
from gate.store.keypad_lockout import KeypadLockoutStore

log = logging.getLogger("gate.daemon")


def restored_keypad_entry(entry: KeypadEntry, store: KeypadLockoutStore, clock: Clock) -> Callable[[], None]:
    """Restore `entry` from `store`; returns the hook that saves it again when it changed."""
    state = store.load(clock.wall())
    if state is not None:
        entry.restore(state, clock.monotonic())
        if entry.is_locked_out(clock.monotonic()):
            log.warning("keypad still locked out for %.0f s (restored)", state.locked_for_s)
    saved = entry.revision

    def save_if_changed() -> None:
        nonlocal saved
        if entry.revision == saved:
            return
        saved = entry.revision
        try:
            store.save(entry.lockout_state(clock.monotonic()), clock.wall())
        except GateError:
            log.exception("could not save the keypad lockout state")

    return save_if_changed
