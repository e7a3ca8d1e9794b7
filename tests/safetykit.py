"""A simulated gate's config for daemon tests that drive mock pins and a fake clock."""
from __future__ import annotations

from pathlib import Path




def write_config(tmp_path: Path, *, wiring: str = "fail-secure", held: int = 30, prealarm: int = 10) -> Path:
    conf = tmp_path / "gate.toml"
    conf.write_text(
        f"""
[gate]
id = "test-gate"
[storage]
dir = "state"
[hardware]
mode = "simulated"
[hardware.rfid]
enabled = false
[hardware.thermometer]
enabled = false
[mqtt]
enabled = false
[screening]
mode = "off"
[lock]
unlock_seconds = 5
wiring = "{wiring}"
[door]
held_open_seconds = {held}
prealarm_seconds = {prealarm}
debounce_ms = 150
"""
    )
    return conf
