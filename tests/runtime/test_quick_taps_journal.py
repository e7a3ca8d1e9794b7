"""Quick taps through the whole daemon: `gatectl run` on a simulated gate, taps of 100 ms and 150 ms
put into the emulated reader's field over the control socket, counted in the journal.

The 400-tap count (at least 198 of 200 at 100 ms, all 200 at 150 ms) runs twice: over the real driver
and poller on a virtual clock (tests/drivers/test_rfid_quick_taps.py, seconds), and here end to end in
real time, counted in the daemon's journal (about two minutes, marked slow). Before the reader confirmed a card at once, 100 ms taps were never journaled (0 of 12)
and 150 ms taps 10 of 12.
"""
from __future__ import annotations

import random
import time

import pytest

from gatefixture import GateProcess, wait_for


def _journal_taps(tmp_path, broker, taps, rng, gap) -> list[str]:
    """Tap each (card, hold) into a running daemon, the next once the card has left plus a random gap
    (the input under test, not a sync); the cards its journal refused, in order."""
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[screening]\nmode = \"off\"\n"
                       "[hardware.thermometer]\nenabled = false\n")
    with gate.start():
        for card, hold in taps:
            gate.sim("tap", uid=card, hold=hold)
            wait_for(lambda: gate.sim("state").get("reader_holds") is None and not gate.sim("state")["cards_in_field"],
                     5, "the card left the field")
            time.sleep(rng.uniform(*gap))
        gate.sim("tap", uid="CCCCCCCC", hold=1.0)     # journaled after every tap before it
        wait_for(lambda: any(r["card"] == "CCCCCCCC" for r in gate.records_of("access_refused")), 10, "last tap")
        return [r["card"] for r in gate.records_of("access_refused") if r["card"] != "CCCCCCCC"]


def test_quick_taps_are_journaled_once_each(tmp_path, broker):
    rng = random.Random(15)
    taps = [(f"A{i:07X}", 0.10) for i in range(10)] + [(f"B{i:07X}", 0.15) for i in range(10)]
    rng.shuffle(taps)
    journaled = _journal_taps(tmp_path, broker, taps, rng, (0.0, 0.3))
    assert sorted(journaled) == sorted(set(journaled))              # one tap, one record
    assert sum(c in journaled for c, h in taps if h > 0.12) == 10, journaled
    assert sum(c in journaled for c, h in taps if h < 0.12) >= 9, journaled


@pytest.mark.slow
def test_200_taps_of_100_ms_and_200_of_150_ms_are_journaled(tmp_path, broker):
    """Issue 15's count, end to end in real time: 400 taps with random gaps into a running daemon,
    counted in its journal: at least 198 of the 100 ms taps and all 200 of the 150 ms ones."""
    rng = random.Random(200)
    taps = [(f"{i:08X}", 0.10) for i in range(200)] + [(f"{0x10000000 + i:08X}", 0.15) for i in range(200)]
    rng.shuffle(taps)
    journaled = _journal_taps(tmp_path, broker, taps, rng, (0.02, 0.12))
    assert sorted(journaled) == sorted(set(journaled))              # one tap, one record
    assert sum(c in journaled for c, h in taps if h > 0.12) == 200
    assert sum(c in journaled for c, h in taps if h < 0.12) >= 198
