"""Guard PIN checks off the main loop: scrypt costs up to ~0.6 s on a Pi for a dozen stored PINs,
and a fire release or a door event must never wait behind one."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from gate.core.events import PinVerified

log = logging.getLogger("gate.keypad")


class PinChecker:
    """One worker thread: `submit(request_id, pin)` verifies and posts PinVerified to the main loop.
    `verify` (GuardStore.verify) must be safe to call from that thread. Closable, safe twice."""

    def __init__(self, verify: Callable[[str], "tuple[str, bool] | None"], post: Callable[[object], None],
                 now: Callable[[], float]):
        self._verify, self._post, self._now = verify, post, now
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-pin-check")

    def submit(self, request_id: int, pin: str) -> None:
        pool = self._pool
        if pool is None:
            return  # closing: the keypad entry times the check out as a failed attempt

        def check() -> None:
            try:
                result = self._verify(pin)
            except Exception:  # a broken store refuses (fail closed); the message never holds the PIN
                log.exception("keypad PIN check %d failed", request_id)
                result = None
            self._post(PinVerified(request_id, result, self._now()))

        pool.submit(check)

    def close(self) -> None:
        """A check in flight finishes (its answer is dropped with the queue); one not started is cancelled."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
