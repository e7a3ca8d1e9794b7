"""Helpers for the feedback tests: a simulated gate with a display and a built prompt pack."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gatefixture import GateProcess, wait_for

from gate.i18n import text

NO_BROKER = 1  # nothing listens there: the gate works without its uplink
WAIT = 10.0
NAME = "王小明"
CARD = "A1B2C3D4"

FEEDBACK_TOML = """
[feedback]
language = "{language}"
display_seconds = {display_seconds}
quiet_hours = []

[feedback.display]
type = "ssd1306"
"""


def gatectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def feedback_toml(language: str = "zh-CN", display_seconds: float = 5.0, extra: str = "") -> str:
    return FEEDBACK_TOML.format(language=language, display_seconds=display_seconds) + extra


def prepared_gate(workdir: Path, *, language: str = "zh-CN", display_seconds: float = 5.0,
                  extra: str = "") -> GateProcess:
    """A simulated gate (not started) with its prompt pack built in both languages and one pass."""
    gate = GateProcess(workdir, port=NO_BROKER, extra_toml=feedback_toml(language, display_seconds, extra))
    done = gatectl("prompts", "-c", str(gate.config), "build", "--language", "zh-CN", "--language", "en")
    assert done.returncode == 0, done.stdout + done.stderr
    done = gatectl("passes", "-c", str(gate.config), "add", CARD, "--name", NAME)
    assert done.returncode == 0, done.stderr
    return gate


def state(gate: GateProcess) -> dict:
    return gate.sim("state")


def wait_prompt(gate: GateProcess, message_id: str, language: str, timeout: float = WAIT) -> dict:
    want = text(message_id, language)
    return wait_for(lambda: (s := state(gate)).get("prompt") == want and s, timeout,
                    f"prompt {message_id!r} in {language} ({want})")
