"""`gatectl sim` prints what happened (new-user audit B2): every action against a real simulated daemon."""
from __future__ import annotations

import subprocess
import sys

from gatefixture import GateProcess


def gatectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=60)


def test_every_sim_action_says_what_the_gate_made_of_it(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[keypad]\nsource = \"gpio\"\n")
    with gate.start():
        cfg = str(gate.config)

        def sim(*args: str, code: int = 0) -> str:
            out = gatectl("sim", "-c", cfg, *args)
            assert out.returncode == code, out.stdout + out.stderr
            return out.stdout.strip()

        assert gatectl("guards", "-c", cfg, "add", "zhang", stdin="246802\n").returncode == 0
        assert gatectl("passes", "-c", cfg, "add", "DEADBEEF", "--name", "Wang Li").returncode == 0
        assert sim("temp", "none") == "thermometer reads nothing (no person in front of it)"
        assert sim("tap", "DEADBEEF").startswith("access_refused DEADBEEF screening_unavailable (no_person")
        assert sim("tap", "CAFEF00D", "--no-wait") == "tapped CAFEF00D (held 0.5 s); not waiting for the decision"
        assert sim("keys", "1111#") == "override_refused (wrong PIN, attempt 1)"
        assert sim("keys", "12") == "pressed 12 (a PIN is entered with #)"
        assert sim("keys", "*246802#") == "override zhang"
        assert sim("exit") == "exit_request: lock released for the exit"
        assert sim("tamper", "on") == "tamper on: tamper alarm raised"
        assert sim("tamper", "off") == "tamper off: enclosure closed"
        assert sim("fire", "on") == "fire release on: lock released (fire_release alarm)"
        assert sim("door", "open") == "door_opened (authorised: fire)"
        assert sim("door", "close").startswith("door_closed")
        assert sim("fire", "off").startswith("fire release off")
        assert sim("reader", "absent") == "reader chip: absent"
        out = sim("tap", "0BADCAFE", "--wait", "1", code=1)        # no chip: no card can be read
        assert out == "tapped 0BADCAFE: no decision within 1 s: no card was read (a radio fault? see gatectl events)"
        assert sim("reader", "present") == "reader chip: present"
