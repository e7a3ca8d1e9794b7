"""The guard's OSDP keypad shows the override outcome on its own display (osdp_TEXT), and a
duress PIN shows, speaks and displays exactly what a normal override does."""
from __future__ import annotations

import threading

import pytest

from feedbackkit import WAIT, gatectl, prepared_gate
from gatefixture import wait_for

from gate.config.schema import load_config
from gate.i18n import text
from gate.runtime.daemon import GateDaemon

GUARD, PIN, DURESS_PIN = "guard-chen", "246802", "135791"
OSDP = """
[keypad]
source = "osdp"
"""


@pytest.fixture
def gate(tmp_path):
    files = prepared_gate(tmp_path, extra=OSDP)
    done = gatectl("guards", "-c", str(files.config), "add", GUARD, "--duress", stdin=f"{PIN}\n{DURESS_PIN}\n")
    assert done.returncode == 0, done.stderr
    daemon = GateDaemon(load_config(files.config))
    daemon.start()
    stop = threading.Event()
    loop = threading.Thread(target=daemon.run, args=(stop,), name="gate-main-loop")
    loop.start()
    try:
        wait_for(lambda: daemon.hardware.osdp_panel.is_online, WAIT, "the OSDP keypad online")
        yield daemon
    finally:
        stop.set()
        daemon.request_stop()
        loop.join(10)
        daemon.close()


def _override(daemon, pin: str, count: int) -> tuple[list[str], str, str]:
    pd = daemon.hardware.simulator.keypad
    pd.press_keys(f"{pin}#")
    wait_for(lambda: len(daemon.journal.records(record_type="override")) >= count, WAIT, "the override journaled")
    assert pd.wait_for_text(count, WAIT), "no text reached the keypad's display"
    want = text("guard_override", "zh-CN")
    wait_for(lambda: daemon.feedback.sim_state()["prompt"] == want, WAIT, "the override prompt")
    wait_for(lambda: daemon.feedback.sim_state()["display"] == want, WAIT, "the override on the gate's display")
    state = daemon.feedback.sim_state()
    return pd.texts, state["prompt"], state["display"]


def test_the_override_shows_on_the_keypad_and_duress_looks_the_same(gate):
    assert gate.hardware.osdp_panel.has_display()  # the emulated peripheral reports TextOutput
    texts, prompt, display = _override(gate, PIN, 1)
    assert texts == ["Opened by the guard"]
    texts, prompt_d, display_d = _override(gate, DURESS_PIN, 2)
    assert texts == ["Opened by the guard", "Opened by the guard"]
    assert (prompt_d, display_d) == (prompt, display)
    assert len(gate.journal.records(record_type="duress")) == 1  # only the station learns of it
    played = [p.file for p in gate.feedback.sink.played] + [gate.feedback.player.last.file]
    assert {f.rsplit("/", 1)[-1] for f in played} == {"guard_override.wav"}
