"""gatectl's administration commands: passes, households, events, secrets."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from gate.config.schema import load_config
from gate.core.errors import InputError
from gate.store.journal import Journal
from gate.store.passes import PassStore
from gate.store.registry_replica import held_registry
from gate.core.passes import DATE_RULE, PASS_TYPES, make_pass, parse_pass_csv
from gate.core.records import ALARM_TYPES
from gate.cli.record_types import RECORD_TYPES
from gate.cli import households as rules_cli
from gate.uplink.signing import write_secret
from gate.core.uid import normalize_uid


def _stores(args):
    cfg = load_config(args.config, check_paths=False)
    return cfg, storage_dir(cfg)


def storage_dir(cfg) -> Path:
    """The storage folder, created when missing; one line with a hint when it cannot be (B7)."""
    d = cfg.storage_dir
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    except PermissionError:
        raise InputError(f"storage.dir {d}: cannot be created by this user; create it for the gate's user "
                         f"(sudo install -d -o gate -g gate -m 0750 {d}) and run as that user "
                         "(sudo -u gate gatectl ...)") from None
    except OSError as exc:
        raise InputError(f"storage.dir {d}: cannot be created: {exc.strerror or exc}") from None
    return d


def cmd_passes(args) -> int:
    cfg, d = _stores(args)
    if args.op == "issue":
        return cmd_issue(cfg, args)
    tz = ZoneInfo(cfg.gate.timezone)
    refuse_if_compound_managed(d, args.op)
    with PassStore(d / "registry.db") as store:
        if args.op == "add":
            store.add(make_pass(args.uid, args.name, args.household, args.valid_from, args.valid_until, args.type,
                                tz=tz), replace=args.replace)
            print(f"{'replaced' if args.replace else 'added'} {normalize_uid(args.uid)}")
        elif args.op == "revoke":
            uid = normalize_uid(args.uid)
            if not store.revoke(uid):
                raise InputError(f"revoke: no pass for card {uid}")
            print(f"revoked {uid}")
        elif args.op == "list":
            for p in store.iter_all():
                if args.json:
                    print(json.dumps(p.to_json(), ensure_ascii=False))
                else:
                    j = p.to_json()
                    state = "REVOKED" if p.revoked else "active"
                    obs = "  [quarantine until " + j["quarantine_until"] + "]" if j["quarantine_until"] else ""
                    print(f"{p.card:<20} {state:<8} {p.pass_type:<9} {p.household or '-':<10} "
                          f"{j['valid_from'] or '-':<24} {j['valid_until'] or '-':<24} {p.name}{obs}")
        elif args.op == "import":
            text, path, encoding = rules_cli.read_csv_file(args.file, args.encoding)
            n = store.upsert_many(parse_pass_csv(text, source=str(path), tz=tz))
            print(f"imported {n} passes from {path} ({encoding})")
        elif args.op == "export":
            store.write_csv(sys.stdout)
        elif args.op == "visitor":
            rules_cli.passes_visitor(store, args, tz)
        elif args.op == "quarantine":
            rules_cli.passes_quarantine(store, args, tz)
    return 0


_STATION_OPS = {"add": "add UID --name N", "import": "import FILE.csv", "revoke": "revoke UID"}


def refuse_if_compound_managed(storage: Path, op: str) -> None:
    """A gate holding a station registry version takes its passes from the station only (docs/registry.md):
    a local change would be undone by the next version and would make this gate differ from its peers."""
    if op not in _STATION_OPS:
        return
    held = held_registry(storage)
    if held is not None:
        raise InputError(
            f"passes {op}: this gate is compound-managed (it holds registry version {held['version']} of compound "
            f"{held['compound']!r}); change the compound's passes at the station: gatectl station -c STATION.toml "
            f"passes {_STATION_OPS[op]} --compound {held['compound']}")


def cmd_households(args) -> int:
    cfg, d = _stores(args)
    return rules_cli.cmd_households(args, d, ZoneInfo(cfg.gate.timezone))


def cmd_issue(cfg, args) -> int:
    """Write the card's credential block through the running daemon's reader (it owns the SPI bus)."""
    from gate.runtime.simcontrol import send_control

    if not cfg.credentials.enabled:
        raise InputError("issue: credentials.enabled is false in this config; the cloned-card defence is off")
    result = send_control(cfg.storage_dir, "issue", {"card": normalize_uid(args.uid)}, timeout=30.0)
    print(f"issued a credential onto card {result['card']} (block {result['block']})")
    return 0


def cmd_events(args) -> int:
    cfg, d = _stores(args)
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit: must be at least 1, got {args.limit}")
    if args.type is not None and args.type not in RECORD_TYPES:
        import difflib

        close = difflib.get_close_matches(args.type, RECORD_TYPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"--type: unknown record type {args.type!r}{hint}; known: {', '.join(RECORD_TYPES)}")
    with Journal(d / "journal.db", cfg.gate.id) as journal:
        records = journal.records(record_type=args.type, limit=args.limit, newest=args.limit is not None)
    for rec in records:
        if args.json:
            print(json.dumps(rec.payload(), ensure_ascii=False, sort_keys=True))
        else:
            extra = " ".join(f"{k}={v}" for k, v in rec.fields.items() if v is not None)
            flag = "ALARM " if rec.alarm else ""
            print(f"{rec.seq:>7} {rec.ts} {flag}{rec.type} {extra}".rstrip())
    return 0


def cmd_secret(args) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise InputError(f"{path}: exists already (use --force to replace it)")
    write_secret(path, replace=args.force)
    print(f"wrote a new 256-bit secret to {path} (mode 0600)")
    return 0


def add_parsers(sub) -> None:
    config = dict(required=True, metavar="CONFIG", help="the gate's TOML config")
    dates = f"Dates: {DATE_RULE}."
    p = sub.add_parser("passes", help="register, revoke, list, import and export passes")
    p.add_argument("-c", "--config", **config)
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="register a pass (a card that has one already is refused: --replace)",
                         epilog=dates)
    add.add_argument("uid", help="card UID, 4 or 7 bytes in hex (colons and spaces allowed)")
    add.add_argument("--name", required=True, help="the holder's name")
    add.add_argument("--household", help="household id, e.g. 3-201 (community rules)")
    add.add_argument("--valid-from", metavar="WHEN", help="first valid moment: YYYY-MM-DD (that day's "
                     "midnight in gate.timezone) or an ISO 8601 date-time")
    add.add_argument("--valid-until", metavar="WHEN", help="last valid moment: YYYY-MM-DD (through that "
                     "day in gate.timezone) or an ISO 8601 date-time")
    add.add_argument("--type", default="resident", choices=PASS_TYPES, help="pass type (default resident)")
    add.add_argument("--replace", action="store_true",
                     help="replace the card's existing pass: every field is taken from this command (a "
                     "field not given is cleared) and a revoked pass is active again; its quarantine stays")
    ops.add_parser("revoke", help="revoke a card's pass (kept, so refusals say 'revoked')").add_argument(
        "uid", help="card UID")
    lst = ops.add_parser("list", help="every pass, revoked ones too")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    imp = ops.add_parser("import", help="CSV with header card,name[,household,valid_from,valid_until,pass_type]: "
                         "UTF-8 (BOM or not) or GB18030/GBK; all or nothing, errors name the line; existing "
                         "cards are updated", epilog=dates)
    imp.add_argument("file", help="the CSV file")
    rules_cli.add_encoding_option(imp)
    ops.add_parser("export", help="active passes as CSV on stdout")
    ops.add_parser("issue", help="write the credential block onto the card now on the reader "
                   "(credentials.enabled; the daemon must run)").add_argument("uid", help="card UID")
    rules_cli.add_pass_parsers(ops)
    p.set_defaults(func=cmd_passes)
    rules_cli.add_household_parser(sub, cmd_households)

    p = sub.add_parser("events", help="list the local journal, newest last",
                       epilog="record types: " + ", ".join(RECORD_TYPES))
    p.add_argument("-c", "--config", **config)
    p.add_argument("--json", action="store_true", help="one JSON object per line (MQTT payload format)")
    p.add_argument("--type", metavar="TYPE", help="only records of this type (listed below; alarms: "
                   + ", ".join(sorted(ALARM_TYPES)) + ")")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N records")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("secret", help="create a random secret file (command key) with mode 0600")
    p.add_argument("path", help="the file to write (its folder is created)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_secret)
