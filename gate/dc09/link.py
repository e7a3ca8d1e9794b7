"""One receiver link: a thread that sends a receiver's outbox in order, one message at a time, and
marks each done only on the receiver's ACK (matching sequence and account).

NAK (timestamp rejected): resent at once, with the receiver's clock as its NAK stated it.
DUH (cannot process): logged at error level, counted in the status, set aside (not resent).
No answer, garbage, a wrong sequence, a refused connection: retried with exponential backoff;
after `retries_per_address` failures the next address of the receiver is tried. An idle link is
tested with a NULL message every `supervision_seconds`.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from gate.clock import Clock, SystemClock
from gate.core.errors import StorageError
from gate.core.timefmt import format_ts
from gate.dc09.frame import AnswerError, Cipher, FrameReader, Message, parse_answer
from gate.dc09.outbox import ACKED, REJECTED, Item, Outbox

log = logging.getLogger("gate.dc09")

MAX_NAKS = 3  # NAKs in a row before the message counts as failed (a receiver that only NAKs)


@dataclass(frozen=True)
class ReceiverSettings:
    """One `[[receivers]]` entry: `addresses` in the order they are tried (the first is the
    primary); `key` the ASCII bytes of the hex key, or None for plain messages."""

    name: str
    addresses: tuple[tuple[str, int], ...]
    account: str = ""
    key: bytes | None = None
    format: str = "ADM-CID"
    receiver_number: str = "0"
    line: str = "0"
    supervision_seconds: float = 60.0
    ack_timeout_seconds: float = 10.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    retries_per_address: int = 3
    max_age_seconds: float = 86_400.0


@dataclass
class _Counters:
    sent: int = 0
    acked: int = 0
    naks: int = 0
    rejected: int = 0
    failures: int = 0
    garbage: int = 0
    supervision_sent: int = 0


class Outcome:
    ACK, NAK, DUH, FAIL = "ack", "nak", "duh", "fail"


class ReceiverLink:
    """Delivers one receiver's share of the outbox. `start()`, `wake()` after enqueueing,
    `status()` (a plain dict) from any thread, `close()`."""

    def __init__(self, settings: ReceiverSettings, outbox: Outbox, *, clock: Clock | None = None,
                 on_rejected: Callable[[Item, str], None] | None = None):
        self.s = settings
        self.outbox = outbox
        self.clock = clock or SystemClock()
        self.on_rejected = on_rejected
        self._cipher = Cipher(settings.key) if settings.key else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._reader = FrameReader()
        self._addr_index = 0
        self._fails_here = 0
        self._consecutive_failures = 0
        self._offset = timedelta(0)  # the receiver's clock minus ours, learnt from a NAK
        self._lock = threading.Lock()
        self._c = _Counters()
        self._state = "unknown"
        self._since = format_ts(self.clock.wall())
        self._last_ack_at: str | None = None
        self._last_error = ""
        self._last_rejected: dict[str, Any] | None = None
        self._last_supervision_at: str | None = None
        self._next_attempt_at: float | None = None
        self._last_traffic = self.clock.monotonic()
        self._current: tuple[int, int] | None = None  # (outbox id, seq) of the message being delivered

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "ReceiverLink":
        self._thread = threading.Thread(target=self._run, name=f"dc09-{self.s.name}", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Something was queued: look at the outbox now (returns at once)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.s.ack_timeout_seconds + 5)
        self._disconnect()

    def probe(self) -> tuple[bool, str]:
        """One NULL link test now, on this thread, each address in turn until one ACKs (for
        `receivers status` when no running station reports). (ok, what happened)."""
        problems = []
        for index in range(len(self.s.addresses)):
            self._addr_index = index
            msg = Message("NULL", self.outbox.take_seq(self.s.name), self.s.account or "0000", "",
                          self.s.receiver_number, self.s.line)
            outcome = self._exchange(msg)
            self._disconnect()
            if outcome == Outcome.ACK:
                return True, f"{self._address()} acknowledged a NULL link test"
            problems.append(f"{self._address()}: {self._last_error or outcome}")
        return False, "; ".join(problems)

    # --- status -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The link as data: state up/down/unknown and since when, address in use, backlog, counters."""
        with self._lock:
            host, port = self.s.addresses[self._addr_index]
            mono = self.clock.monotonic()
            try:
                pending = self.outbox.count(self.s.name)
            except StorageError:
                pending = None
            return {
                "name": self.s.name, "address": f"{host}:{port}", "state": self._state, "since": self._since,
                "encrypted": self._cipher is not None, "format": self.s.format, "pending": pending,
                "last_ack_at": self._last_ack_at, "last_error": self._last_error,
                "last_rejected": self._last_rejected, "last_supervision_at": self._last_supervision_at,
                "supervision_seconds": self.s.supervision_seconds,
                "next_attempt_in": None if self._next_attempt_at is None else round(max(0.0, self._next_attempt_at - mono), 1),
                "updated_at": format_ts(self.clock.wall()),
                **vars(self._c),
            }

    def _set_state(self, state: str, error: str = "") -> None:
        with self._lock:
            if state != self._state:
                self._since = format_ts(self.clock.wall())
                (log.warning if state == "down" else log.info)(
                    "DC-09 receiver %s: link %s%s", self.s.name, state, f" ({error})" if error else "")
            self._state = state
            if error:
                self._last_error = error
        self._save()

    def _save(self) -> None:
        try:
            self.outbox.save_status(self.s.name, self.status())
        except StorageError:
            log.exception("DC-09 receiver %s: cannot save the link status", self.s.name)

    # --- the loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        self._save()
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the link must outlive any single bad message or disk hiccup
                log.exception("DC-09 receiver %s: unexpected error", self.s.name)
                self._pause(self.s.retry_initial_seconds)

    def _step(self) -> None:
        item = self.outbox.next_pending(self.s.name)
        if item is None:
            due = self._last_traffic + self.s.supervision_seconds if self.s.supervision_seconds > 0 else None
            if due is not None and self.clock.monotonic() >= due:
                self._supervise()
            else:
                self._wake.wait(0.2)
                self._wake.clear()
            return
        outcome = self._deliver(item)
        if outcome == Outcome.FAIL:
            self._backoff()

    def _supervise(self) -> None:
        seq = self.outbox.take_seq(self.s.name)
        msg = Message("NULL", seq, self.s.account, "", self.s.receiver_number, self.s.line)
        self._c.supervision_sent += 1
        outcome = self._exchange(msg)
        self._last_traffic = self.clock.monotonic()  # also after a failure: the next test waits its interval
        if outcome == Outcome.ACK:
            self._last_supervision_at = format_ts(self.clock.wall())
            self._save()
        else:
            self._backoff()

    def _deliver(self, item: Item) -> str:
        # Retries of one message keep its sequence number, so a receiver can tell a repeat from a new event.
        if self._current is None or self._current[0] != item.id:
            self._current = (item.id, self.outbox.take_seq(self.s.name))
        seq = self._current[1]
        msg = Message(item.token, seq, item.account, item.data, self.s.receiver_number, self.s.line)
        for _ in range(MAX_NAKS):
            outcome = self._exchange(msg)
            if outcome != Outcome.ACK:
                self.outbox.attempted(item.id)  # after the exchange: the write never delays a send
            if outcome == Outcome.ACK:
                self.outbox.finish(item.id, ACKED, format_ts(self.clock.wall()))
                log.info("DC-09 receiver %s: %s %s acknowledged (seq %04d)", self.s.name, item.source, item.code, seq)
                self._save()
                return outcome
            if outcome == Outcome.DUH:
                self.outbox.finish(item.id, REJECTED, format_ts(self.clock.wall()))
                with self._lock:
                    self._c.rejected += 1
                    self._last_rejected = {"source": item.source, "code": item.code, "at": format_ts(self.clock.wall())}
                log.error("DC-09 receiver %s answered DUH to %s (%s): it cannot process the message; set aside",
                          self.s.name, item.source, item.code)
                if self.on_rejected is not None:
                    self.on_rejected(item, "DUH")
                self._save()
                return outcome
            if outcome != Outcome.NAK:
                return outcome
        self._failed("NAK after NAK: the receiver keeps rejecting the timestamp")
        return Outcome.FAIL

    # --- one exchange -------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.clock.wall() + self._offset

    def _exchange(self, msg: Message) -> str:
        """Send `msg` once (connecting if needed) and wait for its answer."""
        frame = msg.encode(self._now(), self._cipher)
        try:
            sock = self._connect()
            sock.sendall(frame)
        except OSError as exc:
            self._disconnect()
            self._failed(f"cannot send to {self._address()}: {exc}")
            return Outcome.FAIL
        self._c.sent += 1
        deadline = time.monotonic() + self.s.ack_timeout_seconds  # socket waits are real time
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                sock.settimeout(min(left, 0.5))
                data = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError as exc:
                self._disconnect()
                self._failed(f"{self._address()}: {exc}")
                return Outcome.FAIL
            if not data:
                self._disconnect()
                self._failed(f"{self._address()} closed the connection without an answer")
                return Outcome.FAIL
            for raw in self._reader.feed(data):
                outcome = self._judge(raw, msg)
                if outcome is not None:
                    return outcome
        self._disconnect()  # a late answer on this connection must not be taken for the next message
        self._failed(f"no answer from {self._address()} within {self.s.ack_timeout_seconds:g}s")
        return Outcome.FAIL

    def _judge(self, raw: bytes, msg: Message) -> str | None:
        """What one answer frame means for `msg`; None: not an answer to it (keep waiting)."""
        try:
            ans = parse_answer(raw, self._cipher)
        except AnswerError as exc:
            self._c.garbage += 1
            log.warning("DC-09 receiver %s: ignored a bad answer: %s", self.s.name, exc)
            return None
        if ans.kind == "NAK" and ans.seq in (0, msg.seq):
            self._c.naks += 1
            if ans.receiver_time is not None:
                self._offset = ans.receiver_time - self.clock.wall()
            log.warning("DC-09 receiver %s: NAK for seq %04d (timestamp rejected); resending with the receiver's "
                        "time (offset %.0fs)", self.s.name, msg.seq, self._offset.total_seconds())
            return Outcome.NAK
        if not ans.matches(msg.seq, msg.account):
            self._c.garbage += 1
            log.warning("DC-09 receiver %s: ignored %s for seq %04d account %s while waiting for seq %04d",
                        self.s.name, ans.kind, ans.seq, ans.account, msg.seq)
            return None
        if ans.kind == "DUH":
            return Outcome.DUH
        if self._cipher is not None and not ans.encrypted:
            self._c.garbage += 1
            log.warning("DC-09 receiver %s: ignored a plain %s to an encrypted message", self.s.name, ans.kind)
            return None
        self._ok()
        return Outcome.ACK

    # --- connection and failure bookkeeping ---------------------------------------------------------
    def _address(self) -> str:
        host, port = self.s.addresses[self._addr_index]
        return f"{host}:{port}"

    def _connect(self) -> socket.socket:
        if self._sock is None:
            host, port = self.s.addresses[self._addr_index]
            self._sock = socket.create_connection((host, port), timeout=min(self.s.ack_timeout_seconds, 10.0))
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._reader = FrameReader()
        return self._sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _ok(self) -> None:
        with self._lock:
            self._c.acked += 1
            self._consecutive_failures = self._fails_here = 0
            self._next_attempt_at = None
            self._last_ack_at = format_ts(self.clock.wall())
        self._last_traffic = self.clock.monotonic()
        self._set_state("up")

    def _failed(self, error: str) -> None:
        with self._lock:
            self._c.failures += 1
            self._consecutive_failures += 1
            self._fails_here += 1
            if self._fails_here >= self.s.retries_per_address and len(self.s.addresses) > 1:
                self._addr_index = (self._addr_index + 1) % len(self.s.addresses)
                self._fails_here = 0
                log.warning("DC-09 receiver %s: trying the next address %s", self.s.name, self._address())
        self._set_state("down", error)

    def _backoff(self) -> None:
        n = max(1, self._consecutive_failures)
        delay = min(self.s.retry_initial_seconds * 2 ** (n - 1), self.s.retry_max_seconds)
        self._next_attempt_at = self.clock.monotonic() + delay
        self._save()
        self._pause(delay)
        self._next_attempt_at = None

    def _pause(self, seconds: float) -> None:
        """Wait `seconds` on the injected clock, or until closed."""
        end = self.clock.monotonic() + seconds
        while not self._stop.is_set():
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.2))
