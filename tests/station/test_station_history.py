"""`gatectl station history` (interface §6): stored records by gate, type, card and time, oldest first."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gate.station.store import StationStore


def _record(gate: str, seq: int, type_: str, minute: int, **fields) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}", "ts": f"2026-12-01T02:{minute:02d}:00.000Z",
            "type": type_, "historical": False, **fields}


@pytest.fixture
def station(tmp_path):
    for gate in ("north", "south"):
        (tmp_path / f"{gate}.secret").write_text("x" * 40 + "\n")
    cfg = tmp_path / "station.toml"
    cfg.write_text('[station]\nstore = "station.db"\ntimezone = "Asia/Shanghai"\n'
                   '[gates.north]\nsecret_file = "north.secret"\ncompound = "gucun-47"\n'
                   '[gates.south]\nsecret_file = "south.secret"\ncompound = "other"\n')
    with StationStore(tmp_path / "station.db") as store:
        store.add_record("north", "event", _record("north", 1, "access_granted", 1, card="DEADBEEF", name="王小明"))
        store.add_record("north", "alarm", _record("north", 2, "forced_open", 2))
        store.add_record("south", "alarm", _record("south", 1, "forced_open", 3))
        store.add_record("north", "event", _record("north", 3, "command_rejected", 4, cmd_id="\x1b[2J[/red]"))
    return cfg


def _history(cfg, *args):
    return subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(cfg), "history", *args],
                          capture_output=True, text=True, timeout=60)


def test_json_is_oldest_first_and_filters_by_gate_type_and_card(station):
    out = _history(station, "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["gate"], r["seq"]) for r in rows] == [("north", 1), ("north", 2), ("south", 1), ("north", 3)]
    only = [json.loads(line) for line in _history(station, "--json", "--type", "forced_open",
                                                      "--gate", "north").stdout.splitlines()]
    assert [(r["gate"], r["seq"]) for r in only] == [("north", 2)]
    card = [json.loads(line) for line in _history(station, "--json", "--card", "de:ad:be:ef").stdout.splitlines()]
    assert [r["seq"] for r in card] == [1]
    compound = [json.loads(line) for line in _history(station, "--json", "--compound", "other").stdout.splitlines()]
    assert [r["gate"] for r in compound] == ["south"]


def test_limit_keeps_the_newest_and_time_range_bounds(station):
    newest = [json.loads(line) for line in _history(station, "--json", "--limit", "2").stdout.splitlines()]
    assert [(r["gate"], r["seq"]) for r in newest] == [("south", 1), ("north", 3)]
    ranged = [json.loads(line) for line in _history(station, "--json", "--since", "2026-12-01T02:02:00Z",
                                                     "--until", "2026-12-01T02:03:00Z").stdout.splitlines()]
    assert [(r["gate"], r["seq"]) for r in ranged] == [("north", 2), ("south", 1)]


def test_human_lines_are_local_time_and_gate_text_cannot_drive_the_terminal(station):
    out = _history(station)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("2026-12-01 10:01:00  north  #1  access_granted")  # Asia/Shanghai, UTC+8
    assert "王小明" in lines[0]                                                     # Chinese stays readable
    assert "\x1b" not in out.stdout and "\\x1b[2J[/red]" in lines[3]


@pytest.mark.parametrize("args, message", [
    (["--since", "yesterday"], "--since:"),
    (["--limit", "0"], "--limit: must be between 1"),
    (["--compound", "nowhere"], "--compound: no gate of compound 'nowhere'"),
])
def test_bad_arguments_exit_2_and_name_the_option(station, args, message):
    out = _history(station, *args)
    assert out.returncode == 2 and message in out.stderr, (out.returncode, out.stderr)
