"""Turns reader polls into taps: one `Tap` per card presence, with health supervision.

Rules:
- a UID is reported only after two consecutive reads agree (a read that slipped past BCC and CRC_A
  cannot become a tap). The second read follows the first at once (a few ms later), not at the next
  poll: a card held 100 ms is one poll and its confirmation, so quick taps are not lost;
  inconclusive reads (`CardReadError`: collision, CRC, parity, card half in the field) neither
  confirm nor end a presence;
- a presence ends after `absent_polls` consecutive clean misses; the same card presented again
  afterwards is a new tap;
- with `credential_key_for`, the credential block is read before the tap is reported (a few polls
  are allowed for it); the Gen1a backdoor probe runs on every new tap;
- `DeviceFault`: soft reset on the first, RST hard reset on later ones; `on_fault` once after
  `fault_threshold` consecutive faults, `on_recovered` once when a poll succeeds again. VersionReg
  and the chip's settings are checked at start and every `health_interval_s`;
- any other exception (an `OSError` from spidev on a bus error, a bug) is counted as a device fault
  like `DeviceFault`: the thread keeps polling and the station hears `device_fault`; `ensure_alive()`
  (called from the daemon's main loop) restarts a polling thread that died all the same.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from .errors import DeviceFault
from .rfid import CardReadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tap:
    """A card presented to the reader. `uid` is uppercase hex without separators."""

    uid: str
    uid_bytes: bytes
    credential: bytes | None = None
    magic: bool = False


class Reader(Protocol):
    def read_uid(self) -> bytes | None: ...
    def read_block(self, uid: bytes, block: int, key: bytes) -> bytes: ...
    def probe_magic(self, uid: bytes | None = None) -> bool: ...
    def check(self) -> int: ...
    def soft_reset(self) -> int: ...
    def hard_reset(self) -> int: ...


class _MonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()


class RfidPoller:
    """Polls `reader` at `rate_hz` on a daemon thread (`start()`), or step by step (`poll_once()`).

    Callbacks run on the polling thread: `on_tap(Tap)`, `on_fault(reason)`, `on_recovered()`.
    `credential_key_for(uid) -> (block, key) | None` enables the credential read; `probe_magic`
    defaults to on when it is given. `clock` has `.monotonic()`; `sleep(seconds)` defaults to an
    Event wait that `close()` interrupts. The reader is not closed by the poller.
    """

    def __init__(self, reader: Reader, *, on_tap: Callable[[Tap], None],
                 on_fault: Callable[[str], None], on_recovered: Callable[[], None],
                 rate_hz: float = 20.0, fault_threshold: int = 3, health_interval_s: float = 30.0,
                 credential_key_for: Callable[[bytes], tuple[int, bytes] | None] | None = None,
                 clock=None, sleep: Callable[[float], object] | None = None,
                 probe_magic: bool | None = None, absent_polls: int = 3,
                 credential_attempts: int = 3):
        if not 0.1 <= rate_hz <= 50:
            raise ValueError(f"rfid.poll_hz: must be between 0.1 and 50, got {rate_hz}")
        if fault_threshold < 1:
            raise ValueError(f"rfid.fault_threshold: must be at least 1, got {fault_threshold}")
        if absent_polls < 1 or credential_attempts < 1:
            raise ValueError("rfid: absent_polls and credential_attempts must be at least 1")
        self._reader = reader
        self._on_tap, self._on_fault, self._on_recovered = on_tap, on_fault, on_recovered
        self.period_s = 1.0 / rate_hz
        self._threshold = fault_threshold
        self._health_interval = health_interval_s
        self._key_for = credential_key_for
        self._probe = (credential_key_for is not None) if probe_magic is None else probe_magic
        self._absent_polls = absent_polls
        self._cred_attempts = credential_attempts
        self._clock = clock or _MonotonicClock()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._step = threading.Lock()       # poll_once from a test vs the thread: never both
        self._present: bytes | None = None  # the card whose tap was reported, still in the field
        self._candidate: bytes | None = None
        self._hits = 0
        self._misses = 0
        self._cred_tries = 0
        self._failures = 0
        self.faulted = False
        self._next_health: float | None = None   # None: check on the first poll
        self.polls = 0                            # polls made (liveness: it keeps growing)
        self.unexpected_errors = 0                # non-driver exceptions survived

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def card_in_field(self) -> str | None:
        """The UID (uppercase hex) of the card whose tap was reported and that has not left yet."""
        present = self._present
        return present.hex().upper() if present is not None else None

    def start(self) -> "RfidPoller":
        if self._stop.is_set():
            raise RuntimeError("rfid: poller is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rfid-poller", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop polling (returns within one poll). Safe twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def __enter__(self) -> "RfidPoller":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """True while the polling thread runs (or was never started / was closed on purpose)."""
        thread = self._thread
        return thread is None or thread.is_alive() or self._stop.is_set()

    def ensure_alive(self) -> bool:
        """Liveness check for the daemon's main loop: a polling thread that died (it should not:
        `_run` survives every Exception) is reported as a device fault and started again.
        Returns True when the thread was alive."""
        if self.alive:
            return True
        log.error("rfid: the polling thread died; restarting it")
        self._failures = max(self._failures, self._threshold - 1)
        self._device_fault(RuntimeError("rfid: the polling thread died"))
        self._thread = None
        self.start()
        return False

    def _run(self) -> None:
        next_poll = self._clock.monotonic()
        while not self._stop.is_set():
            try:
                self.poll_once()
            except BaseException:  # noqa: B036 - logged, then the thread ends (close/interpreter exit)
                log.exception("rfid: polling thread stops")
                raise
            period = self.period_s if not self.faulted else max(self.period_s, 1.0)
            now = self._clock.monotonic()
            next_poll = max(next_poll + period, now + period / 10)   # never a busy loop
            self._sleep(next_poll - now)

    # ----------------------------------------------------------------------------- one poll
    def poll_once(self) -> None:
        """One poll: health check when due, read, debounce, report. Never raises DriverErrors."""
        with self._step:
            if self._stop.is_set():
                return
            self.polls += 1
            try:
                now = self._clock.monotonic()
                if self._next_health is None or now >= self._next_health:
                    self._reader.check()
                    self._next_health = now + self._health_interval
                if not self._read_and_observe():
                    return
                if self._candidate is not None:
                    # A new card answered once: confirm it now, while it is surely still there.
                    self._read_and_observe()
            except DeviceFault as exc:
                self._device_fault(exc)
            except Exception as exc:  # noqa: BLE001 - OSError from spidev (EIO), or a bug: keep polling
                self.unexpected_errors += 1
                log.exception("rfid: unexpected error while polling")
                self._device_fault(exc)

    def _read_and_observe(self) -> bool:
        """One read, debounced. False when the read was inconclusive (CardReadError)."""
        try:
            uid = self._reader.read_uid()
        except CardReadError as exc:
            log.debug("rfid: inconclusive read: %s", exc)
            self._healthy()
            return False
        self._healthy()
        self._observe(uid)
        return True

    def _observe(self, uid: bytes | None) -> None:
        if uid is None:
            self._candidate, self._hits, self._cred_tries = None, 0, 0
            if self._present is not None:
                self._misses += 1
                if self._misses >= self._absent_polls:
                    log.debug("rfid: card %s left the field", self._present.hex().upper())
                    self._present = None
            return
        self._misses = 0
        if uid == self._present:
            self._candidate, self._hits = None, 0
            return
        if uid == self._candidate:
            self._hits += 1
        else:
            self._candidate, self._hits, self._cred_tries = uid, 1, 0
        if self._hits >= 2:
            tap = self._build_tap(uid)
            if tap is not None:
                self._present, self._candidate, self._hits = uid, None, 0
                self._emit(self._on_tap, tap)

    def _build_tap(self, uid: bytes) -> Tap | None:
        """The tap for a confirmed UID, or None to try again next poll (credential not read yet)."""
        credential, magic = None, False
        try:
            magic = self._probe and self._reader.probe_magic(uid)
            key = self._key_for(uid) if self._key_for else None
            if key is not None:
                block, sector_key = key
                credential = self._reader.read_block(uid, block, sector_key)
        except CardReadError as exc:
            self._cred_tries += 1
            if self._cred_tries < self._cred_attempts:
                log.debug("rfid: card %s: %s; retrying", uid.hex().upper(), exc)
                return None
            log.info("rfid: card %s: no credential (%s)", uid.hex().upper(), exc)
        return Tap(uid.hex().upper(), uid, credential, bool(magic))

    # ------------------------------------------------------------------------------- health
    def _healthy(self) -> None:
        self._failures = 0
        if self.faulted:
            self.faulted = False
            log.warning("rfid: reader recovered")
            self._emit(self._on_recovered)

    def _device_fault(self, exc: Exception) -> None:
        self._failures += 1
        self._candidate, self._hits = None, 0
        self._next_health = None             # re-check the chip as soon as it answers again
        log.log(logging.WARNING if self._failures == 1 else logging.DEBUG,
                "rfid: %s (failure %d)", exc, self._failures)
        if self._failures >= self._threshold and not self.faulted:
            self.faulted = True
            self._emit(self._on_fault, str(exc))
        try:
            if self._failures == 1:
                self._reader.soft_reset()
            else:
                self._reader.hard_reset()
        except Exception as again:  # noqa: BLE001 - the next poll tries again
            log.debug("rfid: reset failed: %s", again)

    def _emit(self, callback: Callable, *args: object) -> None:
        try:
            callback(*args)
        except Exception:  # a bug in a callback must not stop the reader
            log.exception("rfid: callback %r failed", callback)
