"""An emulated OSDP keypad/reader: a real libosdp PeripheralDevice on the far side of a pty pair.

The gate's control panel opens `port`, a symlink to the pty's slave side, exactly as it would open
`/dev/serial/by-id/...` for a USB-RS485 adapter. `unplug()` closes the pty (the panel's port read
fails, as when the adapter is pulled); `replug()` makes a fresh pty and re-points the symlink, as
udev does when the adapter comes back. Used by `gatectl sim` and by tests.
"""
from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
import tty
from pathlib import Path

from osdp import (Capability, CardFormat, Channel, Command, Event, LibFlag, LogLevel, PDCapabilities,
                  PDInfo, PeripheralDevice, StatusReportType)

from firmware_bridge.osdp_panel import FEEDBACK_PATTERNS, KEY_TO_OSDP

log = logging.getLogger(__name__)

_MAX_KEYS_PER_EVENT = 32


class _PtyMasterChannel(Channel):
    """The peripheral's end of the line: the pty master, non-blocking. With no pty (unplugged) it
    reads nothing and its writes vanish."""

    def __init__(self) -> None:
        super().__init__()
        self.fd: int | None = None

    def read(self, max_bytes: int) -> bytes:
        fd = self.fd
        if fd is None:
            return b""
        try:
            return os.read(fd, max_bytes)
        except OSError as exc:
            # EAGAIN: nothing yet; EIO: nobody has the slave side open (panel not attached)
            if exc.errno not in (errno.EAGAIN, errno.EIO, errno.EBADF):
                log.warning("emulated OSDP keypad: read failed: %s", exc)
            return b""

    def write(self, buf: bytes) -> int:
        fd = self.fd
        if fd is None:
            return len(buf)
        try:
            return os.write(fd, buf)
        except OSError:
            return len(buf)  # panel not attached: the bytes fall off the wire

    def flush(self) -> None:
        pass


class _DaemonPeripheralDevice(PeripheralDevice):
    """libosdp's PeripheralDevice with a daemon refresh thread (the library's is non-daemon)."""

    def start(self):
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(name="osdp-pd-refresh", target=self.refresh,
                                       args=(self.event, self.lock, self.ctx), daemon=True)
        self.thread.start()


class EmulatedOsdpKeypad:
    """An OSDP keypad with a card reader and a tamper switch, reachable at `port`.

    `link_path`: where to put the symlink the panel opens (default: a private temp dir).
    `feedback` lists every LED/buzzer command received (libosdp dicts); `last_pattern` names the
    feedback pattern of the last LED command, if it matches one of `FEEDBACK_PATTERNS`.
    """

    def __init__(self, link_path: str | os.PathLike | None = None, *, pd_address: int = 101,
                 scbk: bytes | None = None, log_level: int = LogLevel.Error):
        self._tmpdir = None
        if link_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="osdp-keypad-")
            link_path = Path(self._tmpdir.name) / "keypad"
        self.port = str(link_path)
        self.pd_address = pd_address
        self._channel = _PtyMasterChannel()
        self._cond = threading.Condition()
        self._feedback: list[dict] = []
        self._texts: list[dict] = []  # osdp_TEXT commands received (what the display was told)
        self._closed = False
        try:
            self.replug()
            flags = [LibFlag.EnforceSecure] if scbk is not None else []
            caps = PDCapabilities([(Capability.LEDControl, 1, 1), (Capability.AudibleControl, 1, 1),
                                   (Capability.CardDataFormat, 1, 1),
                                   (Capability.CommunicationSecurity, 1, 1),
                                   # a one-row text display (osdp_TEXT): the guard sees overrides there
                                   (Capability.TextOutput, 1, 1)])
            self._pd = _DaemonPeripheralDevice(PDInfo(pd_address, self._channel, scbk=scbk, flags=flags),
                                               caps, log_level=log_level,
                                               command_handler=self._on_command)
            self._pd.start()
        except Exception:
            self._release_pty(final=True)
            raise

    # -- the person in front of it --

    def press_keys(self, keys: str) -> None:
        """Press keys in order ('0'-'9', '*', '#')."""
        bad = sorted({k for k in keys if k not in KEY_TO_OSDP})
        if bad:
            raise ValueError(f"emulated OSDP keypad: no such key(s): {''.join(bad)!r}")
        data = bytes(KEY_TO_OSDP[k] for k in keys)
        for i in range(0, len(data), _MAX_KEYS_PER_EVENT):
            self._submit({"event": Event.KeyPress, "reader_no": 0,
                          "data": data[i:i + _MAX_KEYS_PER_EVENT]})

    def present_card(self, uid_hex: str) -> None:
        """A card with that UID is read (hex, ':'/'-' separators allowed)."""
        clean = uid_hex.replace(":", "").replace("-", "").strip()
        try:
            uid = bytes.fromhex(clean)
        except ValueError:
            raise ValueError(f"emulated OSDP keypad: card UID {uid_hex!r} is not hex") from None
        if not 1 <= len(uid) <= 16:
            raise ValueError(f"emulated OSDP keypad: card UID {uid_hex!r} must be 1-16 bytes")
        self._submit({"event": Event.CardRead, "reader_no": 0, "direction": 0,
                      "format": CardFormat.Unspecified, "length": len(uid) * 8, "data": uid})

    def set_tamper(self, on: bool) -> None:
        """The enclosure tamper switch (reported as an OSDP local status report)."""
        self._submit({"event": Event.Status, "type": StatusReportType.Local,
                      "report": bytes([1 if on else 0, 0])})

    def inject_noise(self, data: bytes) -> None:
        """Put raw bytes on the line towards the panel (noise, a torn frame)."""
        with self._pd.lock:  # between two of the peripheral's own frames
            fd = self._channel.fd
            if fd is not None:
                try:
                    os.write(fd, data)
                except OSError:
                    pass

    # -- the cable --

    def unplug(self) -> None:
        """Pull the cable: the pty goes away and the panel's port fails."""
        with self._pd_lock():
            self._release_pty()

    def replug(self) -> None:
        """Plug it back in: a new pty, the same `port` path."""
        if self._closed:
            raise RuntimeError("emulated OSDP keypad is closed")
        with self._pd_lock():
            self._release_pty()
            master, slave = os.openpty()
            try:
                tty.setraw(slave)  # no echo, no line editing: a serial line, not a terminal
                slave_name = os.ttyname(slave)
            finally:
                os.close(slave)  # the panel opens it by name
            os.set_blocking(master, False)
            tmp_link = f"{self.port}.new"
            if os.path.lexists(tmp_link):
                os.unlink(tmp_link)
            os.symlink(slave_name, tmp_link)
            os.replace(tmp_link, self.port)  # atomic: the panel never sees a missing link
            self._channel.fd = master

    def hang(self) -> None:
        """The firmware hangs: cable intact, but nothing answers any more."""
        if self._pd.thread is not None:
            self._pd.stop()

    def resume(self) -> None:
        """The firmware runs again (after `hang`)."""
        if self._closed:
            raise RuntimeError("emulated OSDP keypad is closed")
        if self._pd.thread is None:
            self._pd.start()

    @property
    def is_plugged(self) -> bool:
        return self._channel.fd is not None

    @property
    def is_online(self) -> bool:
        """The peripheral's own view: a control panel is polling it."""
        return bool(self._pd.is_online())

    # -- what the panel told it --

    @property
    def feedback(self) -> list[dict]:
        with self._cond:
            return list(self._feedback)

    @property
    def last_feedback(self) -> dict | None:
        with self._cond:
            return self._feedback[-1] if self._feedback else None

    @property
    def last_pattern(self) -> str | None:
        with self._cond:
            return self._pattern_of_last_led()

    def wait_for_pattern(self, pattern: str, timeout: float = 5.0) -> bool:
        """Wait until the last LED command received is `pattern`'s."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pattern_of_last_led() == pattern, timeout)

    def wait_for_feedback(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` LED/buzzer commands have been received."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._feedback) >= count, timeout)

    @property
    def texts(self) -> list[str]:
        """The text of every osdp_TEXT command received, oldest first."""
        with self._cond:
            return [t.get("data", "") for t in self._texts]

    def wait_for_text(self, count: int = 1, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._texts) >= count, timeout)

    def clear_feedback(self) -> None:
        with self._cond:
            self._feedback.clear()

    def close(self) -> None:
        """Stop the peripheral and remove the pty and the link. Safe twice."""
        if self._closed:
            return
        self._closed = True
        pd = getattr(self, "_pd", None)
        if pd is not None and pd.thread is not None:
            pd.stop()
        self._release_pty(final=True)

    def __enter__(self) -> "EmulatedOsdpKeypad":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --

    def _submit(self, event: dict) -> None:
        if self._closed:
            raise RuntimeError("emulated OSDP keypad is closed")
        if not self._pd.submit_event(event):
            raise RuntimeError("emulated OSDP keypad: libosdp refused the event (queue full?)")

    def _on_command(self, command: dict):
        if command.get("command") == Command.Text:
            with self._cond:
                self._texts.append(dict(command))
                self._cond.notify_all()
        if command.get("command") in (Command.LED, Command.Buzzer):
            with self._cond:
                self._feedback.append(dict(command))
                self._cond.notify_all()
        return 0, None

    def _pattern_of_last_led(self) -> str | None:
        for cmd in reversed(self._feedback):
            if cmd.get("command") == Command.LED:
                for name, sent in FEEDBACK_PATTERNS.items():
                    led = sent[0]
                    if all(cmd.get(k) == led[k] for k in ("on_color", "on_count", "off_count",
                                                          "timer_count")):
                        return name
                return None
        return None

    def _pd_lock(self):
        pd = getattr(self, "_pd", None)
        return pd.lock if pd is not None and pd.lock is not None else threading.Lock()

    def _release_pty(self, final: bool = False) -> None:
        fd, self._channel.fd = self._channel.fd, None
        if fd is not None:
            os.close(fd)
        # Like udev removing /dev/serial/by-id/... when the adapter is pulled; also keeps the panel
        # from reopening a /dev/pts number the kernel may hand to somebody else.
        try:
            if os.path.islink(self.port):
                os.unlink(self.port)
        except OSError:
            pass
        if final and self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None


def open_emulated_keypad(link_path: str | os.PathLike | None = None, *, pd_address: int = 101,
                         scbk: bytes | None = None) -> tuple[EmulatedOsdpKeypad, str]:
    """Create the pty pair and a running emulated keypad; returns (emulator, port for the panel)."""
    emulator = EmulatedOsdpKeypad(link_path, pd_address=pd_address, scbk=scbk)
    return emulator, emulator.port
