"""A libosdp `Channel` over a pyserial port that survives the port going away.

libosdp calls `read`/`write`/`flush` from its refresh thread and expects them never to block and
never to raise. A USB-RS485 adapter that is unplugged (or a pty whose far side closed) makes pyserial
raise `SerialException`; this channel then closes the port, reports the error once, behaves like a
wire with nobody on it (reads nothing, writes vanish) and tries to reopen the same path every
`reopen_interval_s`. Framing and resynchronisation on noise are libosdp's job, not this one's.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import serial
from osdp import Channel

log = logging.getLogger(__name__)

# _NEVER_RAISE: libosdp 3.2.9 calls read/write/flush from C and does not clear a Python exception
# they raise; the next Python call on that thread then fails with SystemError (measured: a lock
# acquired but never released, a dead panel). So every I/O failure is caught here, whatever its type.


class SerialChannel(Channel):
    """The OSDP line: one serial port, 8N1, non-blocking reads.

    `on_error(exc)` is called (from libosdp's thread) when the port fails or cannot be reopened;
    `on_reopen()` when it opened again. `last_rx` is the monotonic time of the last byte received:
    the link supervisor uses it to notice a peripheral that went quiet.
    """

    def __init__(self, port: str, baud: int = 9600, *, reopen_interval_s: float = 1.0,
                 on_error: Callable[[Exception], None] | None = None,
                 on_reopen: Callable[[], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial):
        super().__init__()
        self.port = port
        self.baud = baud
        self._reopen_interval_s = reopen_interval_s
        self._on_error = on_error
        self._on_reopen = on_reopen
        self._monotonic = monotonic
        self._serial_factory = serial_factory
        self._lock = threading.Lock()
        self._serial: serial.Serial | None = None
        self._closed = False
        self._next_open = 0.0
        self._failed = False  # reported once per outage, not once per retry
        self.last_rx: float | None = None
        self._try_open()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            ser = self._serial or self._try_open()
            if ser is None:
                return b""
            try:
                data = ser.read(max_bytes)
            except Exception as exc:  # see _NEVER_RAISE
                self._fail(exc)
                return b""
            if data:
                self.last_rx = self._monotonic()
            return data

    def write(self, buf: bytes) -> int:
        with self._lock:
            ser = self._serial
            if ser is None:
                # Like a wire with nothing attached: the bytes vanish and the peripheral's
                # silence is what the supervisor reports.
                return len(buf)
            try:
                return ser.write(buf) or 0
            except Exception as exc:  # see _NEVER_RAISE
                self._fail(exc)
                return len(buf)

    def flush(self) -> None:
        with self._lock:
            if self._serial is None:
                return
            try:
                self._serial.reset_input_buffer()
            except Exception as exc:  # e.g. termios.error, which is not an OSError
                self._fail(exc)

    def reopen_if_due(self) -> bool:
        """Try to reopen a failed port now (if its reopen interval has passed); True if it is open.

        For the link supervisor's thread: after libosdp declares a peripheral offline it stops
        calling `read` for its 300 s back-off, so a reopen that waited for `read` would never come.
        """
        with self._lock:
            return (self._serial or self._try_open()) is not None

    def close(self) -> None:
        """Close the port for good; later reads/writes do nothing. Safe twice."""
        with self._lock:
            self._closed = True
            self._close_port()

    def __enter__(self) -> "SerialChannel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals (called with self._lock held) --

    def _try_open(self) -> serial.Serial | None:
        if self._closed or self._monotonic() < self._next_open:
            return None
        try:
            ser = self._serial_factory(self.port, self.baud, bytesize=8, parity="N", stopbits=1,
                                       timeout=0, write_timeout=1.0, exclusive=True)
        except Exception as exc:  # see _NEVER_RAISE
            self._next_open = self._monotonic() + self._reopen_interval_s
            if not self._failed:
                self._failed = True
                self._report(serial.SerialException(f"serial port {self.port}: cannot open: {exc}"))
            return None
        self._serial = ser
        if self._failed:
            self._failed = False
            log.info("serial port %s reopened", self.port)
            if self._on_reopen:
                self._call(self._on_reopen)
        return ser

    def _fail(self, exc: Exception) -> None:
        self._close_port()
        self._next_open = self._monotonic() + self._reopen_interval_s
        if not self._failed:
            self._failed = True
            self._report(serial.SerialException(f"serial port {self.port}: {exc}"))

    def _close_port(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass  # the device is already gone; nothing left to release

    def _report(self, exc: Exception) -> None:
        log.warning("%s", exc)
        if self._on_error:
            self._call(self._on_error, exc)

    @staticmethod
    def _call(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # a callback bug must not kill libosdp's refresh thread
            log.exception("serial channel callback failed")
