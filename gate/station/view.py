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

# The board's order, states and labels are the web console's too (gate/station/board.py).
from gate.station.board import ALARM_TYPES, URGENT_TYPES, AlarmRow, local_time  # noqa: E402,F401


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

    def __init__(self, store: StationStore, *, alarms: int = 15, events: int = 15, cfg=None):
        self.store, self._alarms, self._events = store, alarms, events
        self._cfg = cfg  # StationConfig: gate names and the station's time zone
        self._board = None

    def board_rows(self) -> tuple[list[AlarmRow], dict[str, int]]:
        """The web console's board (same order and states), first `alarms` rows, and its counts."""
        if self._board is None:
            from gate.station.console_store import ConsoleStore

            names = {g: self._cfg.gate_name(g) for g in self._cfg.gate_info} if self._cfg else {}
            self._board = ConsoleStore(self.store.path, gate_names=names)
        return self._board.board(limit=self._alarms)

    def alarms_table(self) -> Table:
        table = Table(title="ALARMS", title_style="bold red", expand=True, border_style="red")
        for col in ("gate", "seq", "alarm", "time", "details", "ack"):
            table.add_column(col)
        rows, counts = self.board_rows()
        zone = self._cfg.timezone if self._cfg else "UTC"
        for r in rows:
            if not r.is_open:
                style, ack = "dim", f"closed by {r.closed_by or 'the gate'}"
            else:
                style = ("bold white on red" if r.urgent else "bold red") if r.state == "new" else "yellow"
                ack = {"new": "NOT ACKED", "claimed": f"claimed by {r.claimed_by}",
                       "ack_sent": f"by {r.acked_by}, waiting for the gate",
                       "unconfirmed": f"by {r.acked_by}, the gate did not confirm"}[r.state]
            when = Text(local_time(r.ts, zone))
            if r.delayed_s:
                when.append(f" delayed by {r.delayed_s:g} s", style="italic")
            table.add_row(Text(r.gate_name or r.gate), str(r.seq), r.type.upper(), when,
                          Text(_details(r.record)), ack, style=style)
        hidden = counts["total"] - len(rows)
        if hidden > 0:
            table.caption = f"{counts['open']} open, {hidden} more not shown: see the web console"
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
