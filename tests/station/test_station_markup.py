"""F3: everything a gate sends is shown as text, never as Rich markup: `[/red]`, `[link=...]`,
`[blink]` or a terminal escape in a record is shown literally, and `gatectl station watch` keeps
running (in a real pty, as an officer runs it)."""
from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console

from gate.station.consumer import Received
from gate.station.store import StationStore
from gate.station.view import JsonPrinter, StationView

HOSTILE = {"cmd_id": "[/red]", "action": "[blink]x", "reason": "[link=https://evil.example]click[/link]",
           "detail": "[black on black]hidden[/] \x1b[2J\x1b]0;pwned\x07 \u202etxet"}


def hostile_record(seq: int, type_: str = "command_rejected", gate: str = "g1") -> dict:
    return {"gate": gate, "seq": seq, "id": uuid.uuid4().hex, "ts": "2026-12-01T10:00:00.000Z", "type": type_,
            "historical": False, **HOSTILE}


def render(store: StationStore) -> str:
    console = Console(file=io.StringIO(), width=400, force_terminal=True, color_system="truecolor")
    console.print(StationView(store).render())
    return console.file.getvalue()


def test_markup_in_any_field_is_rendered_literally(tmp_path):
    with StationStore(tmp_path / "s.db") as store:
        store.add_record("g1", "event", hostile_record(1))
        store.add_record("g[/]1", "alarm", hostile_record(1, type_="forced_open[/red][blink]", gate="g[/]1"))
        store.set_status("[bold]g2", {"online": True, "gate": "[bold]g2", "last_seq": 0})
        store.ack("g[/]1", 1, by="[/]officer")
        out = render(store)
    for literal in ("cmd_id=[/red]", "action=[blink]x", "[link=https://evil.example]click[/link]",
                    "[black on black]hidden[/]", "FORCED_OPEN[/RED][BLINK]", "g[/]1", "[bold]g2", "by [/]officer"):
        assert literal in out, literal
    assert "\x1b]8;" not in out  # no hyperlink escape was produced from the record
    assert "\x1b[5m" not in out  # nor blink
    # The gate's own escape sequences reach the terminal only as visible text.
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out and "\\u202e" in out


def test_unverified_records_say_so(tmp_path):
    with StationStore(tmp_path / "s.db") as store:
        store.add_record("g1", "alarm", hostile_record(1, type_="forced_open"), verified=False)
        assert "UNVERIFIED" in render(store)


def test_json_printer_marks_unverified_and_prints_the_verified_copy_that_replaces_it():
    out = io.StringIO()
    printer = JsonPrinter(out)
    forged = hostile_record(1, type_="door_closed")
    real = hostile_record(1, type_="forced_open")
    printer(Received("g1", "alarm", forged, "new", verified=False))
    printer(Received("g1", "alarm", forged, "duplicate", verified=False))
    printer(Received("g1", "alarm", real, "new", verified=True))
    printer(Received("g1", "alarm", real, "duplicate", verified=True))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["type"], line.get("verified", True)) for line in lines] == [("door_closed", False), ("forced_open", True)]
    assert lines[1] == real  # the gate's payload unchanged


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_gatectl_station_watch_in_a_pty_shows_markup_literally_and_keeps_running(broker, tmp_path):
    """r17's end-to-end case: the hostile record is in the store when `watch` starts; before the fix
    watch died after 0.3 s with rich.errors.MarkupError, and again on every restart."""
    conf = tmp_path / "station.toml"
    conf.write_text(f'[station]\nstore = "station.db"\nclient_id = "watch-{uuid.uuid4().hex[:6]}"\n'
                    f'[mqtt]\nport = {broker.port}\n')
    with StationStore(tmp_path / "station.db") as store:
        store.add_record("g1", "event", hostile_record(1))
        store.add_record("g1", "alarm", hostile_record(2, type_="forced_open"))
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "220", "LINES": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", str(conf), "watch"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    try:
        seen = _read_until(master, b"cmd_id=[/red]", 20)
        assert b"cmd_id=[/red]" in seen, seen[-2000:]
        assert b"action=[blink]x" in seen
        # Still alive after several refreshes (one a second) drew the hostile rows again.
        more = _read_until(master, b"MarkupError", 2.5)
        assert proc.poll() is None, (seen + more)[-2000:]
        assert b"Traceback" not in seen + more
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
