"""Residents hear and see the outcome at a REAL simulated gate (`gatectl run` subprocess): the
prompt pack built by `gatectl prompts build` (espeak-ng), the display through luma's dummy device."""
from __future__ import annotations

import io
import json
import os
import signal

from PIL import Image

from feedbackkit import CARD, NAME, WAIT, feedback_toml, gatectl, prepared_gate, state, wait_prompt
from gatefixture import wait_for

from gate.i18n import text


def test_a_normal_tap_speaks_granted_and_shows_the_masked_name_and_temperature(tmp_path):
    gate = prepared_gate(tmp_path, display_seconds=1.5)
    with gate:
        gate.start()
        assert state(gate)["display"] == "请刷卡\nTap your pass"  # the idle screen
        gate.sim("temp", value="36.6")
        gate.sim("tap", uid=CARD)
        shown = wait_prompt(gate, "granted", "zh-CN")
        assert shown["prompt_file"].endswith("zh-CN/granted.wav") and shown["prompt_seconds"] > 0.5
        display = wait_for(lambda: "36.6°C" in (state(gate)["display"] or "") and state(gate)["display"],
                           WAIT, "the temperature on the display")
        assert display.startswith(text("granted", "zh-CN"))
        assert "王*明" in display and NAME not in display
        # `gatectl sim display --png` saves what the glass shows: 128x64, the outcome drawn
        png = tmp_path / "granted.png"
        done = gatectl("sim", "-c", str(gate.config), "display", "--png", str(png))
        assert done.returncode == 0, done.stderr
        assert "王*明" in json.loads(done.stdout)["text"]
        image = Image.open(io.BytesIO(png.read_bytes()))
        assert image.size == (128, 64)
        lit = image.convert("1").histogram()[255]
        assert 300 < lit < 128 * 64 // 2, lit  # text, not a blank or a white frame
        # After display_seconds the name and temperature leave the glass
        wait_for(lambda: state(gate)["display"] == "请刷卡\nTap your pass", WAIT, "the idle screen again")
        assert gate.records_of("access_granted")[0]["name"] == NAME  # the journal keeps the full name
        # The voice never says a name: only the pack's fixed sentences are ever played.
        now = state(gate)
        played = {os.path.basename(p["file"]) for p in now["prompts_played"]} | {os.path.basename(now["prompt_file"])}
        assert played == {"granted.wav"}


def test_a_fever_tap_speaks_fever_in_chinese_then_in_english_after_a_reload(tmp_path):
    gate = prepared_gate(tmp_path)
    with gate:
        gate.start()
        gate.sim("temp", value="38.6")
        gate.sim("tap", uid=CARD)
        shown = wait_prompt(gate, "fever", "zh-CN")
        assert shown["prompt_file"].endswith("zh-CN/fever.wav")
        wait_for(lambda: "38.6°C" in (state(gate)["display"] or ""), WAIT, "the fever temperature shown")
        played = [p["file"] for p in state(gate)["prompts_played"]] + [state(gate)["prompt_file"]]
        assert all(os.path.basename(f) in ("fever.wav",) for f in played), played
        # The site switches to English: a reload (SIGHUP), no restart
        gate.config.write_text(gate.config.read_text().replace(feedback_toml("zh-CN"), feedback_toml("en")))
        os.kill(gate.pid, signal.SIGHUP)
        wait_for(lambda: state(gate).get("language") == "en", WAIT, "the reload applied")
        wait_for(lambda: state(gate)["reader_holds"] is None, WAIT, "the first card gone from the field")
        gate.sim("tap", uid=CARD)
        shown = wait_prompt(gate, "fever", "en")
        assert shown["prompt_file"].endswith("en/fever.wav")
        wait_for(lambda: (state(gate)["display"] or "").startswith("Temperature high"), WAIT,
                 "the English outcome on the display")
        assert len(gate.records_of("fever")) == 2
