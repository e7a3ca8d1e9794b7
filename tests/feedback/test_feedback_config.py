"""[feedback] in the config and in `gatectl doctor`."""
from __future__ import annotations

from feedbackkit import gatectl, prepared_gate
from gatefixture import GateProcess

from gate.cli.doctor import run_checks


def test_bad_feedback_keys_are_named_all_at_once(tmp_path):
    gate = GateProcess(tmp_path, port=1, extra_toml="""
[feedback]
language = "fr"
volume = 1.5
quiet_hours = ["nightly 22:00-07:00"]

[feedback.display]
type = "st7789"
""")
    done = gatectl("check-config", str(gate.config))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    for key in ("feedback.language", "feedback.volume", "feedback.quiet_hours", "feedback.display.type"):
        assert any(line.startswith(f"{key}:") for line in lines), (key, lines)
    assert any("nightly" in line for line in lines)


def test_doctor_checks_the_voice_the_pack_and_the_display(tmp_path):
    bare = GateProcess(tmp_path / "bare", port=1)
    rows = {r.check: r for r in run_checks(str(bare.config), broker_timeout=0.5)}
    assert rows["audio"].result == "PASS"  # simulated: the recording sink
    assert rows["prompt pack"].result == "WARN" and "gatectl prompts" in rows["prompt pack"].hint
    assert rows["display"].result == "SKIP"
    ready = prepared_gate(tmp_path / "ready")
    rows = {r.check: r for r in run_checks(str(ready.config), broker_timeout=0.5)}
    assert rows["prompt pack"].result == "PASS"
    assert rows["display"].result == "PASS" and "wqy-zenhei" in rows["display"].detail


def test_doctor_names_a_missing_font(tmp_path):
    gate = GateProcess(tmp_path, port=1, extra_toml="""
[feedback.display]
type = "sh1106"
""")
    gate.config.write_text(gate.config.read_text() + 'font = "no-such-font.ttc"\n')
    rows = {r.check: r for r in run_checks(str(gate.config), broker_timeout=0.5)}
    assert rows["config"].result == "FAIL" and "feedback.display.font" in rows["config"].detail


def test_doctor_plays_silence_through_the_configured_alsa_device(tmp_path):
    import shutil
    import tomllib

    import pytest

    from gate.cli.doctor_checks import check_audio
    from gate.config.schema import parse_config

    if shutil.which("aplay") is None:
        pytest.skip("aplay (alsa-utils) not installed; .ci/run installs it")

    def cfg(device):
        return parse_config(tomllib.loads(f'[hardware]\nmode = "pi"\n[feedback]\naudio_device = "{device}"\n'),
                            tmp_path, check_paths=False)

    assert check_audio(cfg("null")).result == "PASS"
    broken = check_audio(cfg("no-such-card"))
    assert broken.result == "FAIL" and "no-such-card" in broken.detail and "aplay -L" in broken.hint
