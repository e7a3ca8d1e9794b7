"""The gate's OSDP control panel: one peripheral (keypad and/or card reader) on a serial line.

libosdp does the protocol (framing, CRC, resync on noise, secure channel, polling); this module turns
its events into plain callbacks, sends LED/buzzer feedback, and supervises the link (see
`link_supervisor`). All callbacks run on the panel's own thread, never while libosdp's lock is held,
so a callback may call `send_feedback`. Keep them short: hand work to your own queue.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Callable

from osdp import (Capability, Command, CommandLEDColor, ControlPanel, Event, LibFlag, LogLevel, PDInfo,
                  StatusReportType)

from drivers.errors import DeviceConfigError
from firmware_bridge.link_supervisor import LinkSupervisor
from firmware_bridge.serial_channel import SerialChannel

log = logging.getLogger(__name__)

SCBK_LEN = 16
# OSDP's well-known install-mode key SCBK-D: a secure channel under it protects nothing.
SCBK_DEFAULT = bytes(range(0x30, 0x40))

# OSDP keypad data (osdp_KEYPAD): ASCII digits; '*' is sent as DEL and '#' as CR.
_KEY_BYTES = {**{0x30 + d: str(d) for d in range(10)}, 0x7F: "*", 0x2A: "*", 0x0D: "#", 0x23: "#"}
KEY_TO_OSDP = {**{str(d): 0x30 + d for d in range(10)}, "*": 0x7F, "#": 0x0D}

_LED_TEMPORARY = 2   # LED control code: set the temporary state and start its timer
_BUZZER_DEFAULT_TONE = 2
_TEXT_TEMPORARY = 3  # osdp_TEXT control code: temporary text, no wrap, for temp_time seconds
TEXT_MAX = 32


def _led(color: int, on: int, off: int, seconds: float) -> dict:
    # counts are in units of 100 ms (OSDP); off=0 means steady
    return {"command": Command.LED, "reader": 0, "led_number": 0, "temporary": True,
            "control_code": _LED_TEMPORARY, "on_color": color, "off_color": CommandLEDColor.Black,
            "on_count": on, "off_count": off, "timer_count": int(seconds * 10)}


def _beep(on: int, off: int, times: int) -> dict:
    return {"command": Command.Buzzer, "reader": 0, "control_code": _BUZZER_DEFAULT_TONE,
            "on_count": on, "off_count": off, "rep_count": times}


# pattern -> the OSDP commands sent for it, in order (LED first, then buzzer)
FEEDBACK_PATTERNS: dict[str, tuple[dict, ...]] = {
    "granted": (_led(CommandLEDColor.Green, 30, 0, 3.0), _beep(2, 1, 1)),
    "refused": (_led(CommandLEDColor.Red, 2, 3, 2.0), _beep(2, 2, 2)),
    "retest": (_led(CommandLEDColor.Amber, 3, 3, 3.0), _beep(1, 1, 1)),
    "fever": (_led(CommandLEDColor.Red, 1, 1, 4.0), _beep(5, 3, 3)),
    "lockout": (_led(CommandLEDColor.Red, 50, 0, 5.0), _beep(10, 0, 1)),
}


def load_scbk(path: str | os.PathLike) -> bytes:
    """Read the secure-channel base key: 32 hex digits (surrounding whitespace ignored).

    Refuses a file others can read (the key unlocks the line), a malformed key, and OSDP's
    public default key. Every error names the file.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceConfigError(f"OSDP key file {p}: cannot read: {exc}") from exc
    if mode & stat.S_IROTH:
        raise DeviceConfigError(f"OSDP key file {p}: readable by everyone (mode {stat.S_IMODE(mode):o}); "
                                f"chmod 600 or 640 it")
    hex_text = text.strip()
    try:
        key = bytes.fromhex(hex_text)
    except ValueError:
        raise DeviceConfigError(f"OSDP key file {p}: not hexadecimal "
                                f"(expected {SCBK_LEN * 2} hex digits)") from None
    if len(key) != SCBK_LEN:
        raise DeviceConfigError(f"OSDP key file {p}: key is {len(key)} bytes, expected {SCBK_LEN} "
                                f"({SCBK_LEN * 2} hex digits)")
    if key == SCBK_DEFAULT or len(set(key)) == 1:
        raise DeviceConfigError(f"OSDP key file {p}: key is a well-known or trivial value; "
                                f"generate one with `openssl rand -hex 16`")
    return key


def decode_keys(data: bytes) -> str:
    """OSDP keypad bytes -> keys ('0'-'9', '*', '#'); anything else is dropped."""
    return "".join(_KEY_BYTES[b] for b in data if b in _KEY_BYTES)


def card_uid(event: dict) -> str:
    """A card-read event's data as uppercase hex, no separators."""
    return bytes(event.get("data") or b"").hex().upper()


class _DaemonControlPanel(ControlPanel):
    """libosdp's ControlPanel, with its refresh thread made a daemon so that a forgotten close()
    cannot keep the process alive (the library's own thread is non-daemon)."""

    def start(self):
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(name="osdp-cp-refresh", target=self.refresh,
                                       args=(self.event, self.lock, self.ctx), daemon=True)
        self.thread.start()


class OsdpPanel:
    """OSDP control panel for one peripheral at `pd_address` on `port`.

    Callbacks: `on_key(key)` per key ('0'-'9', '*', '#'); `on_card(uid_hex)` (uppercase hex);
    `on_tamper(active)` when the peripheral's own tamper switch changes; `on_link(online)` when the
    link is declared up or down (down within `offline_after_s` + 0.25 s of the peripheral's
    silence, and also when it never came up after start()).
    With `scbk` the secure channel is enforced; without it the line runs in clear (bench use only).
    """

    def __init__(self, port: str, *, baud: int = 9600, pd_address: int = 101,
                 scbk: bytes | None = None, name: str = "keypad",
                 on_key: Callable[[str], None], on_card: Callable[[str], None],
                 on_tamper: Callable[[bool], None], on_link: Callable[[bool], None],
                 offline_after_s: float = 8.0, retry_s: float = 2.0,
                 log_level: int = LogLevel.Error,
                 monotonic: Callable[[], float] = time.monotonic):
        if not 0 <= pd_address <= 126:
            raise DeviceConfigError(f"OSDP {name}: pd_address must be 0..126, got {pd_address}")
        if scbk is not None and len(scbk) != SCBK_LEN:
            raise DeviceConfigError(f"OSDP {name}: scbk must be {SCBK_LEN} bytes, got {len(scbk)}")
        self.name = name
        self.port = port
        self.pd_address = pd_address
        self._on_key, self._on_card = on_key, on_card
        self._on_tamper, self._on_link = on_tamper, on_link
        self._monotonic = monotonic
        self._supervisor = LinkSupervisor(offline_after_s, retry_s=retry_s)
        self._tamper = False  # report changes only: a quiet enclosure is not news
        self._kick_pending = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._channel = SerialChannel(port, baud, monotonic=monotonic,
                                      reopen_interval_s=min(1.0, retry_s))
        try:
            flags = [LibFlag.EnableNotification]
            if scbk is not None:
                flags.append(LibFlag.EnforceSecure)
            else:
                log.warning("OSDP %s on %s: no secure channel key, the line runs in clear", name, port)
            info = PDInfo(pd_address, self._channel, scbk=scbk, name=name, flags=flags)
            self._cp = _DaemonControlPanel([info], log_level=log_level)
        except Exception:
            self._channel.close()
            raise

    @property
    def is_online(self) -> bool | None:
        """The supervised link state: None until decided."""
        return self._supervisor.online

    @property
    def is_secure(self) -> bool:
        """libosdp's view: the secure channel with the peripheral is up now."""
        if self._thread is None or self._closed:
            return False
        return bool(self._cp.is_sc_active(self.pd_address))

    def start(self) -> None:
        """Start polling the peripheral and delivering callbacks."""
        if self._closed:
            raise RuntimeError(f"OSDP {self.name}: panel is closed")
        if self._thread is not None:
            return
        self._cp.start()
        self._thread = threading.Thread(name=f"osdp-{self.name}", target=self._run, daemon=True)
        self._thread.start()

    def send_feedback(self, pattern: str) -> bool:
        """Show a feedback pattern ('granted', 'refused', 'retest', 'fever', 'lockout') on the
        peripheral's LED and buzzer. Returns False (and sends nothing) unless the link is online."""
        try:
            commands = FEEDBACK_PATTERNS[pattern]
        except KeyError:
            raise ValueError(f"OSDP {self.name}: unknown feedback pattern {pattern!r}; "
                             f"expected one of {', '.join(FEEDBACK_PATTERNS)}") from None
        if self._thread is None or self._closed or self._supervisor.online is not True:
            return False  # queued, it would show a stale pattern when the peripheral returns
        ok = True
        for cmd in commands:
            try:
                ok = bool(self._cp.submit_command(self.pd_address, dict(cmd))) and ok
            except Exception as exc:  # libosdp refuses commands for an offline PD
                log.debug("OSDP %s: %s not sent: %s", self.name, pattern, exc)
                ok = False
        return ok

    def has_display(self) -> bool:
        """The peripheral reported a text display (the TextOutput capability) when it came online."""
        if self._thread is None or self._closed or self._supervisor.online is not True:
            return False
        try:
            _, items = self._cp.check_capability(self.pd_address, Capability.TextOutput)
        except Exception:
            return False
        return items > 0

    def send_text(self, text: str, seconds: float = 5.0) -> bool:
        """Show `text` on the peripheral's display for `seconds` (osdp_TEXT, temporary, first row).
        OSDP text is printable ASCII; other characters become '?'. False when nothing was sent."""
        if not self.has_display():
            return False
        data = "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:TEXT_MAX]
        cmd = {"command": Command.Text, "reader": 0, "control_code": _TEXT_TEMPORARY,
               "temp_time": max(1, min(255, int(round(seconds)))), "offset_row": 1, "offset_col": 1,
               "data": data}
        try:
            return bool(self._cp.submit_command(self.pd_address, cmd))
        except Exception as exc:
            log.debug("OSDP %s: text not sent: %s", self.name, exc)
            return False

    def close(self) -> None:
        """Stop polling and release the port. Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._cp.thread is not None:
            self._cp.stop()
        self._channel.close()

    def __enter__(self) -> "OsdpPanel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the panel thread --

    def _run(self) -> None:
        period = self._supervisor.next_check_in()
        next_check = self._monotonic()
        while not self._stop.is_set():
            event = self._cp.get_event(self.pd_address, timeout=period)
            if event is not None:
                self._dispatch(event)
            now = self._monotonic()
            if now >= next_check:
                next_check = now + period
                self._supervise(now)

    def _supervise(self, now: float) -> None:
        if self._kick_pending:
            # second half of a kick: libosdp applies disable_pd on its next refresh
            if not self._cp.is_pd_enabled(self.pd_address):
                self._cp.enable_pd(self.pd_address)
                self._kick_pending = False
            return
        decision = self._supervisor.observe(now, pd_online=self._cp.is_online(self.pd_address),
                                            last_rx=self._channel.last_rx)
        if decision.changed is not None:
            log.log(logging.INFO if decision.changed else logging.WARNING,
                    "OSDP %s (address %d on %s) is %s", self.name, self.pd_address, self.port,
                    "online" if decision.changed else "offline")
            if not decision.changed:
                # drop feedback queued for the vanished peripheral: shown later it would lie
                self._cp.flush_commands(self.pd_address)
            self._call(self._on_link, decision.changed)
        # The port is reopened from here, not only from libosdp's reads: during its 300 s back-off
        # libosdp never reads, so a replugged adapter would otherwise stay closed and never be kicked.
        if decision.kick and self._channel.reopen_if_due():
            # restart libosdp's connection sequence now instead of after its 300 s back-off
            self._kick_pending = bool(self._cp.disable_pd(self.pd_address))

    def _dispatch(self, event: dict) -> None:
        kind = event.get("event")
        if kind == Event.KeyPress:
            for key in decode_keys(bytes(event.get("data") or b"")):
                self._call(self._on_key, key)
        elif kind == Event.CardRead:
            uid = card_uid(event)
            if uid:
                self._call(self._on_card, uid)
        elif kind == Event.Status and event.get("type") == StatusReportType.Local:
            report = bytes(event.get("report") or b"")
            tamper = bool(report[0]) if report else False  # LSTATR: [tamper, power]
            if tamper != self._tamper:
                self._tamper = tamper
                self._call(self._on_tamper, tamper)
        else:
            log.debug("OSDP %s: event %r", self.name, event)

    def _call(self, fn: Callable, arg) -> None:
        try:
            fn(arg)
        except Exception:  # a consumer's bug must not stop link supervision
            log.exception("OSDP %s: callback %s failed", self.name, getattr(fn, "__name__", fn))
