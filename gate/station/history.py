"""`gatectl station history`: stored records by gate, type and time, oldest first (interface §6).

Human output is one line a record, times in `station.timezone`; `--json` prints each stored §4
payload on a line of its own, for scripts. Gate-supplied text is printed as data, control
characters escaped, so a hostile record cannot move the cursor of an officer's terminal.
"""
from __future__ import annotations

import argparse
import json

from gate.core.errors import InputError
from gate.core.timefmt import parse_ts
from gate.station.board import details, local_time
from gate.station.config import StationConfig

MAX_LIMIT = 100_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("history", help="stored records, oldest first (the newest --limit that match)")
    h.add_argument("--gate", help="only this gate id")
    h.add_argument("--compound", help="only the gates of this compound ([gates.\"ID\"] compound)")
    h.add_argument("--type", dest="type_", metavar="TYPE", help="only this record type, e.g. forced_open")
    h.add_argument("--card", help="only taps of this card UID (hex)")
    h.add_argument("--since", metavar="ISO", help="records at or after this time (RFC 3339 or a date)")
    h.add_argument("--until", metavar="ISO", help="records at or before this time")
    h.add_argument("--limit", type=int, default=100, metavar="N", help="at most N records (default 100)")
    h.add_argument("--json", action="store_true", help="one §4 JSON payload per line")


def _iso(value: str | None, key: str) -> str | None:
    if not value:
        return None
    try:
        parse_ts(value)
    except ValueError as exc:
        raise InputError(f"--{key}: {exc}") from None
    return value


def run(cfg: StationConfig, args: argparse.Namespace, out) -> int:
    from gate.station.console_store import ConsoleStore

    if not 1 <= args.limit <= MAX_LIMIT:
        raise InputError(f"--limit: must be between 1 and {MAX_LIMIT}, got {args.limit}")
    since, until = _iso(args.since, "since"), _iso(args.until, "until")
    gates = None
    if args.compound:
        gates = [g for g, info in cfg.gate_info.items() if info.compound == args.compound]
        if not gates:
            known = sorted({i.compound for i in cfg.gate_info.values() if i.compound})
            raise InputError(f"--compound: no gate of compound {args.compound!r} in the config; known: "
                             + (", ".join(known) or "none"))
    card = (args.card or "").replace(":", "").replace("-", "").upper() or None
    with ConsoleStore(cfg.store) as store:
        newest = store.records(gate=args.gate or None, gates=gates, type_=args.type_ or None, card=card,
                               since=since, until=until, limit=args.limit)
    for rec in reversed(newest):
        if args.json:
            out.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            extra = " ".join(f"{k}={v}" for k, v in details(rec).items())
            line = f"{local_time(str(rec.get('ts', '')), cfg.timezone)}  {rec.get('gate')}  #{rec.get('seq')}  " \
                   f"{rec.get('type')}  {extra}".rstrip()
            out.write("".join(c if c.isprintable() else repr(c)[1:-1] for c in line) + "\n")
    return 0
