"""`gatectl station -c S passes import|add|revoke|status|sync --compound C` (interface §7, docs/registry.md).

Exit codes as the rest of `gatectl station`: 0 done (status: every gate current), 1 a gate is not
current (status), 2 bad arguments or file, 3 the broker could not be reached (the new version is
stored and goes out with `passes sync` or the next change).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from gate.core.csvtext import decode_csv
from gate.core.errors import InputError
from gate.core.passes import DATE_RULE, PASS_TYPES, make_pass, parse_pass_csv
from gate.core.uid import normalize_uid
from gate.station.commands import StationLinkError
from gate.station.config import StationConfig
from gate.station.registry import RegistryVersion, StationRegistry
from gate.station.registry_publish import compound_gates, publish_version, read_holdings

EXIT_OK, EXIT_BEHIND, EXIT_CONFIG, EXIT_LINK = 0, 1, 2, 3


def add_registry_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("passes", help="a compound's registry: one pass list for all its gates")
    ops = p.add_subparsers(dest="registry_cmd", required=True, metavar="{import,add,revoke,status,sync}")
    im = ops.add_parser("import", help="replace the compound's whole pass list from a CSV (all or nothing)")
    im.add_argument("file", metavar="FILE.csv", help="card,name,household,valid_from,valid_until,pass_type; "
                    "UTF-8 (with or without BOM) or GB18030")
    ad = ops.add_parser("add", help="add or replace one pass")
    ad.add_argument("uid", metavar="UID", help="card UID, 4 or 7 bytes in hex")
    ad.add_argument("--name", required=True, help="the resident's name")
    ad.add_argument("--household", help="the household (e.g. 3-201)")
    ad.add_argument("--valid-from", metavar="WHEN", help=DATE_RULE)
    ad.add_argument("--valid-until", metavar="WHEN", help=DATE_RULE)
    ad.add_argument("--type", default="resident", choices=PASS_TYPES, help="the pass type (default resident)")
    rv = ops.add_parser("revoke", help="revoke one pass on every gate of the compound")
    rv.add_argument("uid", metavar="UID", help="card UID to revoke")
    st = ops.add_parser("status", help="per gate: the registry version it holds, and whether it is current")
    st.add_argument("--json", action="store_true", help="one JSON object per gate")
    st.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the gates' statuses")
    ops.add_parser("sync", help="publish the current version again (after a broker lost its retained messages)")
    for op in (im, ad, rv, st, ops.choices["sync"]):
        op.add_argument("--compound", required=True, metavar="C", help="the compound (gates.*.compound)")


def run_registry(cfg: StationConfig, args: argparse.Namespace) -> int:
    if "://" in cfg.store:
        raise InputError("station.store: the compound registry needs the SQLite store for now "
                         "(a PostgreSQL store is not supported by `passes` yet)")
    compound = args.compound
    gates = compound_gates(cfg, compound)          # ValueError (exit 2) for an unknown compound
    tz = ZoneInfo(cfg.timezone)
    with StationRegistry(cfg.store) as registry:
        if args.registry_cmd == "status":
            return _status(cfg, registry, compound, gates, args)
        if args.registry_cmd == "import":
            path = Path(args.file)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
            text, encoding = decode_csv(data, str(path))
            version = registry.import_passes(compound, parse_pass_csv(text, str(path), tz=tz), source=path.name)
            print(f"compound {compound}: imported {version.count} passes from {path} ({encoding})")
        elif args.registry_cmd == "add":
            p = make_pass(args.uid, args.name, args.household, args.valid_from, args.valid_until, args.type, tz=tz)
            version = registry.add(compound, p)
        elif args.registry_cmd == "revoke":
            version = registry.revoke(compound, normalize_uid(args.uid))
        else:
            version = registry.current(compound)
            if version is None:
                raise InputError(f"compound {compound!r} has no registry yet (passes import or add first)")
        return _publish(cfg, registry, compound, version)


def _publish(cfg: StationConfig, registry: StationRegistry, compound: str, version: RegistryVersion) -> int:
    head = f"compound {compound}: version {version.version} ({version.change}; {version.count} passes, hash {version.hash[:12]})"
    try:
        gates = publish_version(cfg, registry, compound)
    except StationLinkError as exc:
        print(f"{head}; stored but NOT published: {exc}; run `gatectl station -c ... passes sync "
              f"--compound {compound}` when the broker is back")
        return EXIT_LINK
    print(f"{head}; published to {', '.join(gates)} (see `passes status --compound {compound}`)")
    return EXIT_OK


def _status(cfg: StationConfig, registry: StationRegistry, compound: str, gates: list[str],
            args: argparse.Namespace) -> int:
    current = registry.current(compound)
    holdings = read_holdings(cfg, gates, timeout=args.timeout)
    behind = 0
    for h in holdings:
        is_current = current is not None and h.version == current.version and h.hash == current.hash
        behind += not is_current
        if args.json:
            print(json.dumps({"gate": h.gate, "compound": compound, "online": h.online,
                              "registry_version": h.version, "registry_hash": h.hash,
                              "current_version": current.version if current else None, "current": is_current}))
            continue
        state = "no status" if h.online is None else "online" if h.online else "offline"
        held = f"version {h.version}" if h.version is not None else "no version reported"
        verdict = "current" if is_current else ("BEHIND" if current else "no registry yet")
        print(f"{h.gate:<24} {state:<9} {held:<22} {verdict}")
    if not args.json:
        print(f"compound {compound}: current version {current.version if current else '-'}"
              f"{'' if current is None else f' ({current.count} passes)'}; {len(gates) - behind}/{len(gates)} gates current")
    return EXIT_OK if behind == 0 else EXIT_BEHIND
