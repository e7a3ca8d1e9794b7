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


def test_quick_taps_are_journaled_once_each(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[screening]\nmode = \"off\"\n"
                       "[hardware.thermometer]\nenabled = false\n")
    rng = random.Random(15)
    taps = [(f"A{i:07X}", 0.10) for i in range(10)] + [(f"B{i:07X}", 0.15) for i in range(10)]
    rng.shuffle(taps)
    with gate.start():
        for card, hold in taps:
            gate.sim("tap", uid=card, hold=hold)
            # the next tap once this card has left and the reader counts it as gone...
            wait_for(lambda: gate.sim("state").get("reader_holds") is None and not gate.sim("state")["cards_in_field"],
                     5, "the card left the field")
            time.sleep(rng.uniform(0.0, 0.3))       # ...after a random gap (the input under test, not a sync)
        gate.sim("tap", uid="CCCCCCCC", hold=1.0)     # journaled after every tap before it
        wait_for(lambda: any(r["card"] == "CCCCCCCC" for r in gate.records_of("access_refused")), 5, "last tap")
        journaled = [r["card"] for r in gate.records_of("access_refused") if r["card"] != "CCCCCCCC"]
    short = [c for c, h in taps if h < 0.12]
    long = [c for c, h in taps if h > 0.12]
    assert sorted(journaled) == sorted(set(journaled))              # one tap, one record
    assert sum(c in journaled for c in long) == 10, journaled
    assert sum(c in journaled for c in short) >= 9, journaled


@pytest.mark.slow
def test_200_taps_of_100_ms_and_200_of_150_ms_are_journaled(tmp_path, broker):
    """Issue 15's count, end to end in real time: 400 taps with random gaps into a running daemon,
    counted in its journal: at least 198 of the 100 ms taps and all 200 of the 150 ms ones."""
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[screening]\nmode = \"off\"\n"
                       "[hardware.thermometer]\nenabled = false\n")
    rng = random.Random(200)
    taps = [(f"{i:08X}", 0.10) for i in range(200)] + [(f"{0x10000000 + i:08X}", 0.15) for i in range(200)]
    rng.shuffle(taps)
    with gate.start():
        for card, hold in taps:
            gate.sim("tap", uid=card, hold=hold)
            wait_for(lambda: gate.sim("state").get("reader_holds") is None and not gate.sim("state")["cards_in_field"],
                     5, "the card left the field")
            time.sleep(rng.uniform(0.02, 0.12))     # a random gap before the next resident (the input, not a sync)
        gate.sim("tap", uid="CCCCCCCC", hold=1.0)
        wait_for(lambda: any(r["card"] == "CCCCCCCC" for r in gate.records_of("access_refused")), 10, "last tap")
        journaled = [r["card"] for r in gate.records_of("access_refused") if r["card"] != "CCCCCCCC"]
    assert sorted(journaled) == sorted(set(journaled))              # one tap, one record
    assert sum(c in journaled for c, h in taps if h > 0.12) == 200
    assert sum(c in journaled for c, h in taps if h < 0.12) >= 198
