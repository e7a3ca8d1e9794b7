"""The keypad lockout at the real gate (`gatectl run`, GPIO matrix keypad on mock pins): it survives
a restart, and a duress PIN typed during it raises the silent alarm without opening (F5, F18)."""
from __future__ import annotations

from gatefixture import GateProcess, wait_for

from test_keypad_gate import DURESS_PIN, NO_BROKER, PIN, WRONG_PIN, add_guard

TOML = """
[keypad]
source = "gpio"
max_attempts = 2
lockout_seconds = 600
"""


def test_a_lockout_survives_a_restart_and_a_duress_pin_during_it_is_silent_and_opens_nothing(tmp_path):
    gate = GateProcess(tmp_path, port=NO_BROKER, extra_toml=TOML)
    add_guard(gate.config)
    with gate:
        gate.start()
        gate.sim("keys", keys=f"{WRONG_PIN}#{WRONG_PIN}#")
        wait_for(lambda: gate.records_of("keypad_lockout"), 10, "the keypad lockout")
        gate.sim("keys", keys=f"{DURESS_PIN}#")
        wait_for(lambda: gate.records_of("duress"), 10, "the duress alarm during the lockout")
        assert gate.stop() == 0
        gate.start()  # a restart (or a power cut) used to lift the lockout
        gate.sim("keys", keys=f"{PIN}#")  # the right PIN: nothing, still locked out
        gate.sim("keys", keys=f"{DURESS_PIN}#")
        wait_for(lambda: len(gate.records_of("duress")) == 2, 10, "the second duress alarm")
        assert gate.sim("state")["lock"] == "locked"
    duress = gate.records_of("duress")
    assert [d.get("during_lockout") for d in duress] == [True, True]
    assert gate.records_of("override") == []  # nothing opened, before or after the restart
    assert [r["attempts"] for r in gate.records_of("override_refused")] == [1, 2]
    assert [r["seconds"] for r in gate.records_of("keypad_lockout")] == [600.0]
