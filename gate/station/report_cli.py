"""`gatectl station -c S report --compound C --date D [--format text|csv|json] [--output FILE]`.

Works on either store backend (gate/station/reports.py reads through the store's connection). CSV
is UTF-8 with a BOM for Excel, headers in `--language` (default zh-CN, the project's default).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gate.core.errors import InputError
from gate.station.config import StationConfig
from gate.station.registry_publish import compound_gates
from gate.station.report_format import report_csv, report_text
from gate.station.reports import compound_report, parse_day, store_fetch
from gate.station.store import open_station_store


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="a compound's day: unknown cards tried repeatedly, home observation "
                                      "exit attempts, outings per household")
    r.add_argument("--compound", required=True, metavar="C", help="the compound (gates.*.compound)")
    r.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the local day in station.timezone")
    r.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format (default text)")
    r.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    r.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN", help="headers' language (default zh-CN)")
    r.add_argument("--min-attempts", type=int, default=2, metavar="N",
                   help="an unknown card is listed from N refusals on (default 2)")


def run_report(cfg: StationConfig, args: argparse.Namespace) -> int:
    day = parse_day(args.date)
    gates = compound_gates(cfg, args.compound)
    store = open_station_store(cfg.store, backfill_new_gates=False)
    try:
        report = compound_report(store_fetch(store), gates, compound=args.compound, day=day,
                                 tz_name=cfg.timezone, min_attempts=args.min_attempts)
    finally:
        store.close()
    if args.format == "csv":
        data = report_csv(report, args.language)
    elif args.format == "json":
        data = (json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    else:
        data = report_text(report, args.language).encode("utf-8")
    if args.output:
        path = Path(args.output)
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None
        print(f"compound {args.compound} {day}: {len(report.unknown_cards)} unknown cards, "
              f"{len(report.quarantine_exits)} observation exit attempts, {len(report.outings)} households "
              f"with outings; written to {path}")
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
