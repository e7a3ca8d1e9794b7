"""Audio output for spoken prompts: ALSA through `aplay`, or a recording sink in simulation.

A sink plays one WAV file at a time: `play(path, volume)` blocks until the sound ends or `stop()`
cuts it short (from another thread). The volume (0..1) scales the 16-bit samples before they reach
ALSA, so the quiet-hours level needs no mixer control and no root.
"""
from __future__ import annotations

import array
import io
import shutil
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import DeviceConfigError


def wav_duration(path: str | Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def scaled_wav(path: str | Path, volume: float) -> bytes:
    """The WAV file's bytes with its samples scaled by `volume` (16-bit PCM; others pass unchanged)."""
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        frames = w.readframes(w.getnframes())
    if params.sampwidth == 2 and volume < 1.0:
        samples = array.array("h", frames)
        if sys.byteorder == "big":
            samples.byteswap()
        factor = max(0.0, volume)
        samples = array.array("h", (int(s * factor) for s in samples))
        if sys.byteorder == "big":
            samples.byteswap()
        frames = samples.tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return buf.getvalue()


class AlsaSink:
    """Plays through ALSA with `aplay` (alsa-utils, on every Raspberry Pi OS image). A killed
    `aplay` stops at once, which is how a newer prompt cuts a stale one short."""

    def __init__(self, device: str = "default", *, aplay: str = "aplay"):
        path = shutil.which(aplay)
        if path is None:
            raise DeviceConfigError(f"audio: {aplay!r} not found (install the Debian package alsa-utils)")
        self.device = device
        self._aplay = path
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._active = self._cancelled = False

    def play(self, path: str | Path, volume: float = 1.0) -> None:
        data = scaled_wav(path, volume)
        with self._lock:
            self._active, self._cancelled = True, False
            self._proc = subprocess.Popen([self._aplay, "-q", "-D", self.device, "-"], stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            proc = self._proc
        try:
            _, err = proc.communicate(data)
        except (BrokenPipeError, ValueError, OSError):
            err = b""  # stopped while writing
        finally:
            with self._lock:
                cancelled = self._cancelled
                self._active, self._proc = False, None
        if proc.returncode != 0 and not cancelled:
            detail = (err or b"").decode(errors="replace").strip().splitlines()
            raise DeviceConfigError(f"audio: aplay -D {self.device} exited {proc.returncode}"
                                    + (f": {detail[-1]}" if detail else ""))

    def stop(self) -> None:
        """Cut the sound now playing short (nothing happens when none plays)."""
        with self._lock:
            if self._active:
                self._cancelled = True
                if self._proc is not None and self._proc.poll() is None:
                    self._proc.terminate()

    def close(self) -> None:
        self.stop()


@dataclass(frozen=True)
class Played:
    """One prompt the recording sink played."""

    file: str
    duration_s: float
    volume: float
    completed: bool


class RecordingSink:
    """Simulation: 'plays' a WAV by waiting its duration (or until stopped) and records what it played.
    `hold()` makes every play block until `release()`: a stuck sound card, for tests."""

    def __init__(self, *, real_time: bool = True, history: int = 50):
        self.real_time = real_time
        self._history = history
        self._played: list[Played] = []
        self._cond = threading.Condition()
        self._cancel = threading.Event()
        self._released = threading.Event()
        self._released.set()
        self.playing: str | None = None

    def play(self, path: str | Path, volume: float = 1.0) -> None:
        duration = wav_duration(path)
        with self._cond:
            self.playing = str(path)
            self._cancel.clear()
            self._cond.notify_all()
        self._released.wait()
        completed = not self._cancel.wait(duration) if self.real_time else not self._cancel.is_set()
        with self._cond:
            self.playing = None
            self._played = (self._played + [Played(str(path), round(duration, 3), volume, completed)])[-self._history:]
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            if self.playing is not None:
                self._cancel.set()

    def hold(self) -> None:
        """Every play from now on blocks (a stuck sound card) until release()."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def played(self) -> list[Played]:
        with self._cond:
            return list(self._played)

    def wait_played(self, count: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._played) >= count, timeout)

    def wait_playing(self, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.playing is not None, timeout)

    def close(self) -> None:
        self._stop.set()
        self._released.set()


def list_playback_devices(aplay: str = "aplay", timeout: float = 5.0) -> str:
    """`aplay -l` output (the ALSA cards); raises DeviceConfigError when aplay is missing or fails."""
    path = shutil.which(aplay)
    if path is None:
        raise DeviceConfigError(f"audio: {aplay!r} not found (install the Debian package alsa-utils)")
    done = subprocess.run([path, "-l"], capture_output=True, text=True, timeout=timeout)
    return done.stdout + done.stderr


