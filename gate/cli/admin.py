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
from gate.core.passes import make_pass, parse_pass_csv
from gate.cli import households as rules_cli
from gate.uplink.signing import write_secret
from gate.core.uid import normalize_uid


def _stores(args):
    cfg = load_config(args.config, check_paths=False)
    d = cfg.storage_dir
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return cfg, d


def cmd_passes(args) -> int:
    cfg, d = _stores(args)
    if args.op == "issue":
        return cmd_issue(cfg, args)
    with PassStore(d / "registry.db") as store:
        if args.op == "add":
            store.add(make_pass(args.uid, args.name, args.household, args.valid_from, args.valid_until, args.type,
                                tz=ZoneInfo(cfg.gate.timezone)))
            print(f"added {normalize_uid(args.uid)}")
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
            text, path = rules_cli.read_csv_file(args.file)
            n = store.upsert_many(parse_pass_csv(text, source=str(path), tz=ZoneInfo(cfg.gate.timezone)))
            print(f"imported {n} passes from {path}")
        elif args.op == "export":
            store.write_csv(sys.stdout)
        elif args.op == "visitor":
            rules_cli.passes_visitor(store, args)
        elif args.op == "quarantine":
            rules_cli.passes_quarantine(store, args)
    return 0


def cmd_households(args) -> int:
    _cfg, d = _stores(args)
    return rules_cli.cmd_households(args, d)


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
    p = sub.add_parser("passes", help="register, revoke, list, import and export passes")
    p.add_argument("-c", "--config", required=True)
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="register (or update) a pass")
    add.add_argument("uid")
    add.add_argument("--name", required=True)
    add.add_argument("--household")
    add.add_argument("--valid-from")
    add.add_argument("--valid-until")
    add.add_argument("--type", default="resident", help="resident, visitor, worker, delivery, staff")
    ops.add_parser("revoke").add_argument("uid")
    lst = ops.add_parser("list")
    lst.add_argument("--json", action="store_true")
    ops.add_parser("import", help="CSV with header card,name[,household,valid_from,valid_until,pass_type]").add_argument("file")
    ops.add_parser("export", help="active passes as CSV on stdout")
    ops.add_parser("issue", help="write the credential block onto the card now on the reader "
                   "(credentials.enabled; the daemon must run)").add_argument("uid")
    rules_cli.add_pass_parsers(ops)
    p.set_defaults(func=cmd_passes)
    rules_cli.add_household_parser(sub, cmd_households)

    p = sub.add_parser("events", help="list the local journal, newest last")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--json", action="store_true", help="one JSON object per line (MQTT payload format)")
    p.add_argument("--type")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("secret", help="create a random secret file (command key) with mode 0600")
    p.add_argument("path")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_secret)
