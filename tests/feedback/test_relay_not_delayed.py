"""Prompt playback never delays the relay: with the sound card stuck (the recording sink held), a
granted tap still releases the lock, and the next outcome still reaches the resident.

The gate runs in-process (GateDaemon's loop on a thread) so the test can hold its audio sink."""
from __future__ import annotations

import threading

import pytest

from feedbackkit import CARD, WAIT, prepared_gate
from gatefixture import wait_for

from gate.config.schema import load_config
from gate.runtime.daemon import GateDaemon

NO_SCREENING = """
[hardware.thermometer]
enabled = false

[screening]
mode = "off"
"""


@pytest.fixture
def gate(tmp_path):
    files = prepared_gate(tmp_path, extra=NO_SCREENING)
    daemon = GateDaemon(load_config(files.config))
    daemon.start()
    stop = threading.Event()
    loop = threading.Thread(target=daemon.run, args=(stop,), name="gate-main-loop")
    loop.start()
    try:
        yield daemon
    finally:
        stop.set()
        daemon.request_stop()
        loop.join(10)
        daemon.feedback.sink.release()
        daemon.close()


def test_a_stuck_sound_card_never_holds_the_lock(gate):
    sink = gate.feedback.sink
    sink.hold()  # every play blocks from now on, like aplay on a wedged ALSA device
    gate.hardware.simulator.tap(CARD)
    assert sink.wait_playing(WAIT), "the granted prompt never reached the sink"
    assert sink.playing.endswith("granted.wav")
    # The lock is released while the prompt is still stuck in the sink
    wait_for(lambda: gate.controller.snapshot()["lock"] == "unlocked", WAIT, "the lock released")
    assert gate.hardware.simulator.state()["relay_energised"] is True
    assert sink.played == [] and sink.playing.endswith("granted.wav")
    # The main loop keeps running: the next tap is decided and journaled while the sink is still stuck
    wait_for(lambda: gate.rfid_poller.card_in_field is None, WAIT, "the card gone from the field")
    gate.hardware.simulator.tap("DEADBEEF")  # an unknown card
    wait_for(lambda: gate.journal.records(record_type="access_refused"), WAIT, "the refusal journaled")
    assert sink.played == []
    # Once the card plays again, the stale granted prompt is cut short and the refusal is spoken
    sink.release()
    assert sink.wait_played(2, WAIT)
    first, second = sink.played[:2]
    assert first.file.endswith("granted.wav") and not first.completed
    assert second.file.endswith("refused_unknown_card.wav")
