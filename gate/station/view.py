"""What officers see: a rich live view (alarms first, gates online/offline, recent events) built from
the store on every refresh, and a JSON-lines printer for integrators.

Everything a gate sends (gate ids, types, every field, officer names echoed back) is put on screen as
`rich.text.Text`, never as a markup string: `[/red]`, `[link=...]` or `[blink]` in a record is shown
literally and can neither crash nor restyle the console. Control characters (terminal escapes) are
shown escaped (`\x1b`), and long values are cut. Records without a valid MAC say UNVERIFIED.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import unicodedata
from collections import OrderedDict
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gate.station.consumer import Received
from gate.station.store import CONFLICT, StationStore, StoredRecord

log = logging.getLogger("gate.station.view")
MAX_CELL_CHARS = 200  # of one gate-supplied value on screen
MAX_GATES_SHOWN = 50

# The board's order, states and labels are the web console's too (gate/station/board.py).
from gate.station.board import ALARM_TYPES, URGENT_TYPES, AlarmRow, local_time  # noqa: E402,F401


class JsonPrinter:
    """Prints each record this instance receives as one JSON line (the gate's payload, unchanged) and
    flushes, so `gatectl station watch --json | consumer` sees it at once. Each (gate, seq) is printed
    once per process: redeliveries and replays of a printed record are not printed again. Decided per
    process, not by the store's NEW outcome, because a `watch` sharing the store may have stored the
    record a moment earlier; conflicting copies (same seq, other id) are never printed.

    A record without a valid MAC is printed with `"verified": false` added; if the gate's verified
    record for that seq follows, it is printed too (it replaced the unverified one in the store)."""

    def __init__(self, stream: IO[str] | None = None, *, remember: int = 100_000):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._printed: OrderedDict[tuple[str, int], bool] = OrderedDict()  # -> printed verified
        self._remember = remember  # bounded: a long-running console must not grow without end

    def __call__(self, item: Received) -> None:
        if item.outcome == CONFLICT:
            return
        key = (item.gate, item.record["seq"])
        body = item.record if item.verified else {**item.record, "verified": False}
        line = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if key in self._printed and (self._printed[key] or not item.verified):
                return
            self._printed[key] = item.verified
            self._printed.move_to_end(key)
            if len(self._printed) > self._remember:
                self._printed.popitem(last=False)
            self._stream.write(line + "\n")
            self._stream.flush()


def plain(value: Any, limit: int = MAX_CELL_CHARS) -> Text:
    """`value` as literal text for the screen: never parsed as markup, control and format characters
    (escape sequences, bidi overrides) shown escaped, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit] + "…"
    if not text.isprintable():
        text = "".join(c if c.isprintable() and unicodedata.category(c) != "Cf" else c.encode("unicode_escape").decode("ascii")
                       for c in text)
    return Text(text)


def _details(rec: dict) -> Text:
    skip = {"gate", "seq", "id", "ts", "type", "historical", "mac"}
    return plain(" ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)}"
                          for k, v in rec.items() if k not in skip), limit=2 * MAX_CELL_CHARS)


def _when(r: StoredRecord) -> Text:
    text = plain(r.ts.replace("T", " ").rstrip("Z"), limit=40)
    if r.historical:
        text.append(" historical", style="italic magenta")
    if not r.verified:
        text.append(" UNVERIFIED", style="bold yellow")
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
                style, ack = "dim", Text("closed by ") + plain(r.closed_by or "the gate", limit=64)
            else:
                style = ("bold white on red" if r.urgent else "bold red") if r.state == "new" else "yellow"
                who = plain(r.claimed_by if r.state == "claimed" else (r.acked_by or ""), limit=64)
                ack = {"new": Text("NOT ACKED"), "claimed": Text("claimed by ") + who,
                       "ack_sent": Text("by ") + who + Text(", waiting for the gate"),
                       "unconfirmed": Text("by ") + who + Text(", the gate did not confirm")}[r.state]
            when = plain(local_time(r.ts, zone), limit=40)
            if not r.verified:
                style = "yellow"  # someone's claim, not the gate's word: not shown as a real alarm
                when.append(" UNVERIFIED", style="bold yellow")
            if r.delayed_s:
                when.append(f" delayed by {r.delayed_s:g} s", style="italic")
            table.add_row(plain(r.gate_name or r.gate, 64), Text(str(r.seq)), plain(r.type.upper(), 64), when,
                          _details(r.record), ack, style=style)
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
        states = self.store.gate_states()
        for g in states[:MAX_GATES_SHOWN]:
            state = {True: Text("ONLINE", style="green"), False: Text("OFFLINE", style="bold red"),
                     None: Text("unknown", style="yellow")}[g.online]
            if g.status_verified is False:
                state.append(" (unverified)", style="yellow")
            missing = sum(gap.size for gap in self.store.gaps(g.gate))
            table.add_row(plain(g.gate, 64), state, Text(str(max(g.max_seq, g.reported_last_seq))),
                          Text(str(g.contiguous)), Text(str(missing), style="yellow" if missing else ""),
                          plain(g.status_at or "-", 40))
        if len(states) > MAX_GATES_SHOWN:
            table.add_row(Text(f"… and {len(states) - MAX_GATES_SHOWN} more gates"), "", "", "", "", "")
        return table

    def events_table(self) -> Table:
        table = Table(title="Recent events", expand=True)
        for col in ("gate", "seq", "event", "time", "details"):
            table.add_column(col)
        for r in self.store.recent("event", limit=self._events):
            style = "yellow" if r.type in ("access_refused", "command_rejected") or not r.verified else None
            table.add_row(plain(r.gate, 64), Text(str(r.seq)), plain(r.type, 64), _when(r), _details(r.record),
                          style=style)
        return table

    def render(self) -> Panel:
        return Panel(Group(self.alarms_table(), self.gates_table(), self.events_table()),
                     title="Gate station", subtitle="Ctrl-C to leave")


def safe_render(view: StationView) -> Panel:
    """The view, or, if building it fails (a store error, a bug), a panel saying so: the live console
    must outlive any one refresh."""
    try:
        return view.render()
    except Exception as exc:
        log.exception("station view: rendering failed")
        return Panel(plain(f"the view could not be drawn: {type(exc).__name__}: {exc}", limit=500),
                     title="Gate station", border_style="red")


def run_live(view: StationView, stop: threading.Event, *, refresh: float = 1.0,
             console: Console | None = None) -> None:
    """Redraw the view every `refresh` seconds until `stop` is set."""
    with Live(safe_render(view), console=console, refresh_per_second=4, screen=False) as live:
        while not stop.wait(refresh):
            live.update(safe_render(view))
