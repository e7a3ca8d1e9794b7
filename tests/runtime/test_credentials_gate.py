"""The cloned-card defence through the running daemon: issue a credential onto a card with the real
CLI, then the genuine card passes while a UID-only clone and a Gen1a magic copy are refused."""
from __future__ import annotations

import os
import subprocess
import sys

from gatefixture import GateProcess, wait_for


def gatectl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True, timeout=60)


def idle(gate) -> bool:
    """No card in the field, and the reader no longer counts the last one as present."""
    state = gate.sim("state")
    return state["cards_in_field"] == [] and state["reader_holds"] is None


def test_issued_card_passes_clones_and_magic_cards_are_refused(tmp_path):
    key = tmp_path / "site.key"
    key.write_bytes(os.urandom(32).hex().encode() + b"\n")
    key.chmod(0o600)
    gate = GateProcess(tmp_path, port=1, extra_toml=(
        "[screening]\nmode = \"off\"\n[hardware.thermometer]\nenabled = false\n"
        f"[credentials]\nenabled = true\nsite_key_file = \"{key}\"\n"))
    with gate.start():
        cfg = str(gate.config)
        assert gatectl("passes", "-c", cfg, "add", "CAFEBABE", "--name", "Li Na").returncode == 0

        def refusals():
            return [r["reason"] for r in gate.records_of("access_refused")]

        gate.sim("tap", uid="CAFEBABE")  # registered but never issued: no credential block
        wait_for(lambda: refusals() == ["forged_credential"], 5, "blank card refused")
        assert gate.records_of("forged_credential")[0]["detail"].startswith("credential block missing")

        wait_for(lambda: idle(gate), 5, "first card left the field")
        gate.sim("tap", uid="CAFEBABE", hold=10.0)
        wait_for(lambda: len(refusals()) == 2, 5, "second blank tap refused")
        issued = gatectl("passes", "-c", cfg, "issue", "cafebabe")
        assert issued.returncode == 0, issued.stderr
        assert wait_for(lambda: gate.records_of("credential_issued"), 5, "issue journaled") == [{"card": "CAFEBABE"}]

        wait_for(lambda: idle(gate), 15, "issued card left the field")
        gate.sim("tap", uid="CAFEBABE")
        wait_for(lambda: gate.records_of("access_granted"), 5, "issued card granted")

        wait_for(lambda: idle(gate), 5, "card left the field")
        gate.sim("tap", uid="CAFEBABE", card="clone")
        wait_for(lambda: len(refusals()) == 3, 5, "UID-only clone refused")
        wait_for(lambda: idle(gate), 5, "clone left the field")
        gate.sim("tap", uid="CAFEBABE", card="magic")
        wait_for(lambda: len(refusals()) == 4, 5, "magic card refused")
        assert refusals() == ["forged_credential"] * 4
        details = [r["detail"] for r in gate.records_of("forged_credential")]
        assert "Gen1a backdoor" in details[-1]
        assert len(gate.records_of("access_granted")) == 1


def test_issue_needs_the_defence_enabled(tmp_path):
    gate = GateProcess(tmp_path, port=1)
    out = gatectl("passes", "-c", str(gate.config), "issue", "CAFEBABE")
    assert out.returncode == 2 and "credentials.enabled is false" in out.stderr


def _osdp_gate(tmp_path, uid_only: bool) -> GateProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    key = tmp_path / "site.key"
    key.write_bytes(os.urandom(32).hex().encode() + b"\n")
    key.chmod(0o600)
    readers = '["osdp-keypad"]' if uid_only else "[]"
    return GateProcess(tmp_path, port=1, extra_toml=(
        "[screening]\nmode = \"off\"\n[hardware.thermometer]\nenabled = false\n[keypad]\nsource = \"osdp\"\n"
        f"[credentials]\nenabled = true\nsite_key_file = \"{key}\"\nuid_only_readers = {readers}\n"))


def _osdp_tap(gate: GateProcess, uid: str) -> None:
    wait_for(lambda: gate.sim("state")["keypad_online"], 10, "OSDP keypad online (secure channel up)")
    out = gatectl("sim", "-c", str(gate.config), "keypad", "--card", uid)
    assert out.returncode == 0, out.stderr


def test_a_uid_only_reader_cannot_grant_under_the_defence_unless_listed(tmp_path):
    strict = _osdp_gate(tmp_path / "strict", uid_only=False)
    with strict.start():
        assert gatectl("passes", "-c", str(strict.config), "add", "CAFEBABE", "--name", "Li Na").returncode == 0
        _osdp_tap(strict, "CAFEBABE")
        refusal = wait_for(lambda: strict.records_of("access_refused"), 10, "OSDP read refused")[0]
        assert refusal["reason"] == "forged_credential" and refusal["reader"] == "osdp-keypad"
        assert not strict.records_of("access_granted")

    listed = _osdp_gate(tmp_path / "listed", uid_only=True)
    with listed.start():
        assert gatectl("passes", "-c", str(listed.config), "add", "CAFEBABE", "--name", "Li Na").returncode == 0
        _osdp_tap(listed, "CAFEBABE")
        granted = wait_for(lambda: listed.records_of("access_granted"), 10, "OSDP read granted")[0]
        assert granted["reader"] == "osdp-keypad"
