"""A tiny sd_notify(3) client: READY/WATCHDOG/STOPPING/RELOADING/STATUS datagrams to systemd.

systemd passes the socket path in NOTIFY_SOCKET (a filesystem path, or an abstract-namespace name
starting with '@'), and for `WatchdogSec=` the interval in WATCHDOG_USEC (microseconds) together with
WATCHDOG_PID (the PID that is meant to ping). Not under systemd, every call is a no-op, so the same
daemon runs from a shell, in tests and under the unit.

Sending never raises: a full or vanished socket must not take the gate down (systemd would then
restart it through the watchdog, which is the right outcome for a real stall).
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable, Mapping

log = logging.getLogger("gate.sdnotify")


def _address(raw: str) -> str | bytes | None:
    """NOTIFY_SOCKET to a socket address: '@name' is the abstract namespace (a leading NUL byte)."""
    if not raw:
        return None
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # systemd also knows vsock: addresses; this daemon never runs in a VM guest that way


def watchdog_interval(env: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """The watchdog timeout in seconds from WATCHDOG_USEC, or None when no watchdog is asked of us.

    WATCHDOG_PID, when set, must be our PID: a child that inherited the environment must not ping.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    want_pid = env.get("WATCHDOG_PID", "")
    if want_pid and want_pid != str(os.getpid() if pid is None else pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog pings disabled", usec)
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Sends sd_notify state lines. `Notifier.from_env()` outside systemd gives a silent notifier.

    `watchdog()` is rate-limited to one datagram per quarter of the watchdog interval, so a main
    loop may call it on every iteration.
    """

    def __init__(self, address: str | bytes | None, *, watchdog_seconds: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.address = address
        self.watchdog_seconds = watchdog_seconds
        self._monotonic = monotonic
        self._last_ping: float | None = None
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, unset: bool = False) -> "Notifier":
        """Build from NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID. `unset=True` removes them from
        os.environ so processes we spawn do not talk to systemd in our name."""
        source = os.environ if env is None else env
        notifier = cls(_address(source.get("NOTIFY_SOCKET", "")), watchdog_seconds=watchdog_interval(source))
        if unset and env is None:
            for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                os.environ.pop(key, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send one datagram of newline-separated KEY=VALUE lines. False when not sent."""
        sock = self._sock
        if sock is None:
            return False
        try:
            sock.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify %s failed: %s", lines[0] if lines else "", exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        return self.notify(*lines)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this to its reload job.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"] + ([f"STATUS={_one_line(status)}"] if status else [])
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self, *, force: bool = False) -> bool:
        """Ping the watchdog (at most every watchdog_seconds / 4 unless `force`)."""
        if self._sock is None or self.watchdog_seconds is None:
            return False
        now = self._monotonic()
        if not force and self._last_ping is not None and now - self._last_ping < self.watchdog_seconds / 4:
            return False
        self._last_ping = now
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> "Notifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
