"""What officers see: a rich live view (alarms first, gates online/offline, recent events) built from
the store on every refresh, and a JSON-lines printer for integrators."""
from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gate.station.consumer import Received
from gate.station.store import CONFLICT, StationStore, StoredRecord

# Interface §4 alarm types; anything published on P/G/alarm is an alarm whatever its type.
ALARM_TYPES = frozenset({"forced_open", "held_open", "tamper", "fire_release", "duress", "keypad_lockout",
                         "fever", "quarantine_exit", "device_fault"})
# Shown in the brightest style: someone may be in danger or forcing their way.
URGENT_TYPES = frozenset({"forced_open", "duress", "tamper", "fire_release", "quarantine_exit"})


class JsonPrinter:
    """Prints each record this instance receives as one JSON line (the gate's payload, unchanged) and
    flushes, so `gatectl station watch --json | consumer` sees it at once. Each (gate, seq) is printed
    once per process: redeliveries and replays of a printed record are not printed again. Decided per
    process, not by the store's NEW outcome, because a `watch` sharing the store may have stored the
    record a moment earlier; conflicting copies (same seq, other id) are never printed."""

    def __init__(self, stream: IO[str] | None = None, *, remember: int = 100_000):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._printed: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._remember = remember  # bounded: a long-running console must not grow without end

    def __call__(self, item: Received) -> None:
        if item.outcome == CONFLICT:
            return
        key = (item.gate, item.record["seq"])
        line = json.dumps(item.record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if key in self._printed:
                return
            self._printed[key] = None
            if len(self._printed) > self._remember:
                self._printed.popitem(last=False)
            self._stream.write(line + "\n")
            self._stream.flush()


def _details(rec: dict) -> str:
    skip = {"gate", "seq", "id", "ts", "type", "historical"}
    return " ".join(f"{k}={v}" for k, v in rec.items() if k not in skip)


def _when(r: StoredRecord) -> Text:
    text = Text(r.ts.replace("T", " ").rstrip("Z"))
    if r.historical:
        text.append(" historical", style="italic magenta")
    return text


class StationView:
    """Builds the screen from a store. `render()` is cheap enough to call every second."""

    def __init__(self, store: StationStore, *, alarms: int = 15, events: int = 15):
        self.store, self._alarms, self._events = store, alarms, events

    def alarms_table(self) -> Table:
        table = Table(title="ALARMS", title_style="bold red", expand=True, border_style="red")
        for col in ("gate", "seq", "alarm", "time", "details", "ack"):
            table.add_column(col)
        unacked = self.store.recent("alarm", limit=self._alarms, unacked_only=True)
        acked = [r for r in self.store.recent("alarm", limit=self._alarms) if r.acked_by]
        for r in unacked + acked[: max(0, self._alarms - len(unacked))]:
            if r.acked_by:
                style, ack = "dim", f"by {r.acked_by}"
            else:
                style, ack = ("bold white on red" if r.type in URGENT_TYPES else "bold red"), "NOT ACKED"
            table.add_row(r.gate, str(r.seq), r.type.upper(), _when(r), _details(r.record), ack, style=style)
        if not table.row_count:
            table.add_row("", "", Text("no alarms", style="green"), "", "", "")
        return table

    def gates_table(self) -> Table:
        table = Table(title="Gates", expand=True)
        for col in ("gate", "state", "last seq", "complete to", "missing", "status at"):
            table.add_column(col)
        for g in self.store.gate_states():
            state = {True: Text("ONLINE", style="green"), False: Text("OFFLINE", style="bold red"),
                     None: Text("unknown", style="yellow")}[g.online]
            missing = sum(gap.size for gap in self.store.gaps(g.gate))
            table.add_row(g.gate, state, str(max(g.max_seq, g.reported_last_seq)), str(g.contiguous),
                          Text(str(missing), style="yellow" if missing else ""), g.status_at or "-")
        return table

    def events_table(self) -> Table:
        table = Table(title="Recent events", expand=True)
        for col in ("gate", "seq", "event", "time", "details"):
            table.add_column(col)
        for r in self.store.recent("event", limit=self._events):
            style = "yellow" if r.type in ("access_refused", "command_rejected") else None
            table.add_row(r.gate, str(r.seq), r.type, _when(r), _details(r.record), style=style)
        return table

    def render(self) -> Panel:
        return Panel(Group(self.alarms_table(), self.gates_table(), self.events_table()),
                     title="Gate station", subtitle="Ctrl-C to leave")


def run_live(view: StationView, stop: threading.Event, *, refresh: float = 1.0,
             console: Console | None = None) -> None:
    """Redraw the view every `refresh` seconds until `stop` is set."""
    with Live(view.render(), console=console, refresh_per_second=4, screen=False) as live:
        while not stop.wait(refresh):
            live.update(view.render())
