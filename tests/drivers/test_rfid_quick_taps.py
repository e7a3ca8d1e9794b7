"""Quick taps: 200 taps held 100 ms and 200 held 150 ms, with random gaps, through the real driver and
the real polling thread over the emulated MFRC522 (4- and 7-byte UIDs).

Time runs on a clock that is the real monotonic clock plus every sleep skipped: the driver's waits
for the chip's timer and the poller's sleeps between polls advance it without taking real time (the
poller's with a random scheduling delay of up to 4 ms added), the emulated chip's timer and the
cards' presence run on it, and the CPU time a read really takes counts too (a card can leave
mid-read). So 400 taps and their gaps (about three minutes of gate time) run in a few seconds. The
daemon path (sim tap -> journal) is in tests/runtime/test_quick_taps_journal.py.

Measured with seeds 1-5: 200/200 and 200/200 each time; the poller before (10 Hz, a new card
confirmed at the next poll): 0-2 of 200 at 100 ms, 95-102 of 200 at 150 ms.
"""
from __future__ import annotations

import random
import threading
import time

from drivers.mfrc522_emu import EmulatedCard
from drivers.rfid_poller import RfidPoller

UIDS = [bytes.fromhex("DEADBEEF"), bytes.fromhex("04A1B2C3D4E5F6"),
        bytes.fromhex("0BADCAFE"), bytes.fromhex("04112233445566")]


class SkippingClock:
    """Real time plus the sleeps skipped; sleeping only advances the offset (and yields the GIL)."""

    def __init__(self, rng: random.Random) -> None:
        self._offset = 0.0
        self._rng = rng
        self.stop = threading.Event()

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        self._offset += max(seconds, 0.0)
        time.sleep(0)                        # let the other threads run

    def late_sleep(self, seconds: float) -> None:
        """The poller's sleep: the OS wakes it up to 4 ms late."""
        self.sleep(seconds + self._rng.uniform(0.0, 0.004))


def run_taps(emu, holds: list[float], seed: int) -> tuple[list[tuple[float, float, bytes]], list]:
    from drivers.rfid import RfidReader

    rng = random.Random(seed)
    clock = SkippingClock(rng)
    emu._clock = clock.monotonic             # the emulator's timers and field on the same clock
    reader = RfidReader(rst_pin=25, monotonic=clock.monotonic, sleep=clock.sleep)
    seen: list[tuple[float, str]] = []
    poller = RfidPoller(reader, on_tap=lambda tap: seen.append((clock.monotonic(), tap.uid)),
                        on_fault=lambda reason: seen.append((clock.monotonic(), "FAULT " + reason)),
                        on_recovered=lambda: None, clock=clock, sleep=clock.late_sleep)
    windows = []
    t = clock.monotonic() + 0.2
    for i, hold in enumerate(holds):
        t += rng.uniform(0.2, 0.5)           # gaps longer than the poller's absence time
        uid = UIDS[i % len(UIDS)]
        emu.schedule(EmulatedCard(uid), t, t + hold)
        windows.append((t, t + hold, uid))
        t += hold
    end = t + 0.5
    poller.start()
    deadline = time.monotonic() + 120
    while clock.monotonic() < end and time.monotonic() < deadline:
        time.sleep(0.01)
    poller.close()
    reader.close()
    assert clock.monotonic() >= end, "the taps did not all run within 120 s"
    return windows, seen


def detected(windows, seen) -> list[int]:
    """How many taps each window produced (a tap stamped after its window is late by one read)."""
    counts = []
    for start, end, uid in windows:
        counts.append(sum(1 for when, got in seen if got == uid.hex().upper() and start <= when <= end + 0.05))
    return counts


def test_taps_of_100_and_150_ms_are_detected_once_each(emu):
    holds = [0.100] * 200 + [0.150] * 200
    random.Random(7).shuffle(holds)
    windows, seen = run_taps(emu, holds, seed=15)
    assert not [s for s in seen if s[1].startswith("FAULT")]
    counts = detected(windows, seen)
    short = [c for (start, end, _), c in zip(windows, counts) if end - start < 0.12]
    long = [c for (start, end, _), c in zip(windows, counts) if end - start > 0.12]
    assert len(short) == 200 and len(long) == 200
    assert max(counts) == 1                                   # one tap, one event
    assert sum(short) >= 198, f"100 ms taps detected: {sum(short)} of 200"
    assert sum(long) == 200, f"150 ms taps detected: {sum(long)} of 200"
    assert len(seen) == sum(counts)                           # nothing outside a tap


def test_a_card_held_for_minutes_is_one_tap(emu):
    windows, seen = run_taps(emu, [300.0], seed=3)   # five minutes: ten 30 s health checks
    assert [uid for _, uid in seen] == [windows[0][2].hex().upper()]
