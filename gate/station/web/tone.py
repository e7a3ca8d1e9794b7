"""The console's alarm sound, synthesised (no third-party recording): `python -m gate.station.web.tone`
rewrites static/alarm.wav, a 0.6 s two-tone chime (880/660 Hz, 16 kHz mono) that the page loops."""
from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

WAV = Path(__file__).with_name("static") / "alarm.wav"


def write_alarm_tone(path: Path = WAV, *, rate: int = 16000, seconds: float = 0.6) -> Path:
    frames = bytearray()
    for i in range(int(rate * seconds)):
        t = i / rate
        phase = t % 0.3
        freq = 880 if phase < 0.15 else 660
        envelope = min(1.0, (0.3 - phase) * 40, phase * 200)  # soft edges: no clicks
        frames += struct.pack("<h", int(12000 * envelope * math.sin(2 * math.pi * freq * t)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


if __name__ == "__main__":
    print(write_alarm_tone())
