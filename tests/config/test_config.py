"""Config loading: defaults, every problem reported with its key path, the example kept in sync."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gate.config.schema import load_config, parse_config
from gate.config.doc import render
from gate.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gate.toml"
    p.write_text(text)
    return p


def test_empty_config_takes_every_default(tmp_path):
    cfg = parse_config({}, tmp_path, check_paths=False)
    assert cfg.lock.unlock_seconds == 5
    assert cfg.screening.fever_threshold_c == 37.3
    assert cfg.hardware.mode == "pi"
    assert cfg.door.held_open_seconds == 30


def test_three_mistakes_give_three_path_qualified_lines(tmp_path):
    p = write(tmp_path, '[lock]\nunlock_seconds = 0\n[hardware]\nmode = "sim"\n[door]\nheld_opn_seconds = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(p, check_paths=False)
    assert err.value.problems == [
        "hardware.mode: must be one of 'pi', 'simulated', got 'sim'",
        "lock.unlock_seconds: must be between 1 and 60, got 0",
        "door.held_opn_seconds: unknown key (did you mean 'held_open_seconds'?)",
    ]


def test_wrong_types_and_missing_files_are_reported(tmp_path):
    p = write(tmp_path, '[gate]\nid = 5\n[mqtt]\nport = "x"\ncommand_secret_file = "nope.secret"\n')
    with pytest.raises(ConfigError) as err:
        load_config(p)
    problems = err.value.problems
    assert "gate.id: must be a string, got 5" in problems
    assert "mqtt.port: must be an integer, got 'x'" in problems
    # the hint says how to make one (the example config failed check-config with no way forward)
    assert (f"mqtt.command_secret_file: file not found: {tmp_path / 'nope.secret'} "
            f"(create it with: gatectl secret {tmp_path / 'nope.secret'})") in problems


def test_pin_clash_is_named(tmp_path):
    p = write(tmp_path, "[hardware.gpio]\nlock_pin = 27\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, check_paths=False)
    assert any(line.startswith("hardware.gpio.door_pin: pin 27 already used by hardware.gpio.lock_pin")
               for line in err.value.problems)


def test_invalid_toml_names_the_file(tmp_path):
    p = write(tmp_path, "[lock\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in err.value.problems[0] and "not valid TOML" in err.value.problems[0]


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "s.secret").write_text("k\n")
    p = write(tmp_path, '[storage]\ndir = "state"\n[mqtt]\ncommand_secret_file = "s.secret"\n')
    cfg = load_config(p)
    assert cfg.storage_dir == tmp_path / "state"
    assert cfg.path(cfg.mqtt.command_secret_file) == tmp_path / "s.secret"


def test_example_config_documents_every_key_with_its_default():
    example = (ROOT / "config" / "gate.example.toml").read_text()
    assert example == render(), "regenerate: python -m gate.config.doc > config/gate.example.toml"
    load_config(ROOT / "config" / "gate.example.toml", check_paths=False)


def test_check_config_cli_exit_codes(tmp_path):
    bad = write(tmp_path, "[lock]\nunlock_seconds = 0\nwiring = 'fail-safer'\n[gate]\nid = ''\n[mqtt]\nenabled = false\n")
    run = subprocess.run([sys.executable, "-m", "gate.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 3
    assert lines[0] == "lock.unlock_seconds: must be between 1 and 60, got 0"
    assert lines[1].startswith("lock.wiring: must be one of")
    assert lines[2].startswith("gate.id: must be 1-64 letters")
    (tmp_path / "c.secret").write_text("x")
    good = tmp_path / "good.toml"
    good.write_text('[mqtt]\ncommand_secret_file = "c.secret"\n')
    ok = subprocess.run([sys.executable, "-m", "gate.cli", "check-config", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
