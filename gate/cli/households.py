"""gatectl's community-rules commands: `passes visitor|quarantine` and `households ...`."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gate.core.csvtext import ENCODINGS, decode_csv  # noqa: F401 (re-exported: the station reads the same files)
from gate.core.errors import InputError
from gate.store.passes import PassStore
from gate.core.passes import DATE_RULE, make_pass, parse_when
from gate.core.uid import normalize_uid
from gate.rules.commands import quarantine_end
from gate.rules.households import Household, check_household_id, parse_household_csv
from gate.store.households import HouseholdStore

MAX_VISIT_HOURS = 24 * 31


def _now() -> datetime:
    return datetime.now(timezone.utc)


def read_csv_file(name: str, encoding: str = "auto") -> tuple[str, Path, str]:
    """(text, path, encoding) of a CSV file (see decode_csv)."""
    path = Path(name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text, used = decode_csv(data, str(path), encoding)
    return text, path, used


def _observation(args, tz=timezone.utc) -> datetime | None:
    try:
        return quarantine_end(args.until, args.days, True if args.lift else None, _now(), tz)
    except InputError as exc:
        raise InputError(f"--{exc}") from None     # "until: ..." names the option


def _say_quarantine(what: str, end: datetime | None) -> None:
    print(f"{what}: quarantine lifted" if end is None else f"{what}: under observation until {end.isoformat()}")


def passes_visitor(store: PassStore, args, tz=timezone.utc) -> None:
    """A visitor pass: always time-limited (--until, or --hours from --from/now)."""
    try:
        start = parse_when(args.valid_from, tz) if args.valid_from else _now()
    except ValueError as exc:
        raise InputError(f"--from: {exc}") from None
    if (args.valid_until is None) == (args.hours is None):
        raise InputError("--until/--hours: give exactly one (a visitor pass always ends)")
    if args.hours is not None:
        if not 0 < args.hours <= MAX_VISIT_HOURS:
            raise InputError(f"--hours: must be between 0 and {MAX_VISIT_HOURS}, got {args.hours:g}")
        end = start + timedelta(hours=args.hours)
    else:
        end = args.valid_until
    p = make_pass(args.uid, args.name, args.household, start, end, "visitor", tz=tz)
    store.add(p, replace=args.replace)
    print(f"visitor pass {p.card} for {p.name}: {p.valid_from.isoformat()} until {p.valid_until.isoformat()}")


def passes_quarantine(store: PassStore, args, tz=timezone.utc) -> None:
    uid = normalize_uid(args.uid)
    end = _observation(args, tz)
    if not store.set_quarantine(uid, end):
        raise InputError(f"quarantine: no pass for card {uid}")
    _say_quarantine(uid, end)


def add_encoding_option(parser) -> None:
    parser.add_argument("--encoding", choices=ENCODINGS, default="auto",
                        help="the file's encoding (default auto: UTF-8 with or without BOM, else GB18030/GBK)")


def add_pass_parsers(ops) -> None:
    v = ops.add_parser("visitor", help="issue a visitor pass with a validity window", epilog=f"Dates: {DATE_RULE}.")
    v.add_argument("uid", help="card UID, 4 or 7 bytes in hex")
    v.add_argument("--name", required=True, help="the visitor's name")
    v.add_argument("--household", help="the household visited")
    v.add_argument("--from", dest="valid_from", metavar="WHEN", help="start (default: now); a date or ISO 8601 date-time")
    v.add_argument("--until", dest="valid_until", metavar="WHEN", help="end; a bare date lasts through that day")
    v.add_argument("--hours", type=float, help="length of the visit from its start")
    v.add_argument("--replace", action="store_true", help="replace the card's existing pass (refused without)")
    _quarantine_args(ops.add_parser("quarantine", help="put one pass under home observation (or --lift)",
                                    epilog=f"Dates: {DATE_RULE}."), "uid", "card UID")


def _quarantine_args(q, key: str, what: str) -> None:
    q.add_argument(key, help=what)
    q.add_argument("--until", metavar="WHEN", help="when the observation ends: a bare date lasts through "
                   "that day in gate.timezone, or an ISO 8601 date-time")
    q.add_argument("--days", type=float, help="observation of this many days from now")
    q.add_argument("--lift", action="store_true", help="end the observation now")


def cmd_households(args, storage_dir: Path, tz=timezone.utc) -> int:
    with HouseholdStore(storage_dir / "registry.db") as store:
        if args.op == "add":
            store.add(Household(check_household_id(args.household), args.name or "", args.note or ""))
            print(f"added household {args.household.strip()}")
        elif args.op == "quarantine":
            hid = check_household_id(args.household)
            end = _observation(args, tz)
            store.set_quarantine(hid, end)
            _say_quarantine(f"household {hid}", end)
        elif args.op == "list":
            now = _now()
            for h in store.iter_all():
                if args.json:
                    print(json.dumps(h.to_json(), ensure_ascii=False))
                    continue
                q = h.quarantine_until
                obs = f"until {q.isoformat()}" if q and q > now else "-"
                print(f"{h.id:<16} {obs:<34} {h.name} {h.note}".rstrip())
        elif args.op == "import":
            text, path, encoding = read_csv_file(args.file, args.encoding)
            n = store.upsert_many(parse_household_csv(text, source=str(path), tz=tz))
            print(f"imported {n} households from {path} ({encoding})")
        elif args.op == "export":
            store.write_csv(sys.stdout)
    return 0


def add_household_parser(sub, run) -> None:
    p = sub.add_parser("households", help="households: add, list, quarantine, import, export")
    p.add_argument("-c", "--config", required=True, metavar="CONFIG", help="the gate's TOML config")
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="create (or rename) a household")
    add.add_argument("household", help="household id, e.g. 3-201 (what passes name)")
    add.add_argument("--name", help="a display name")
    add.add_argument("--note", help="a free-text note")
    lst = ops.add_parser("list", help="every household and its observation")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    _quarantine_args(ops.add_parser("quarantine", help="home observation of a whole household (or --lift)",
                                    epilog=f"Dates: {DATE_RULE}."), "household", "household id")
    imp = ops.add_parser("import", help="CSV with header household[,name,note,quarantine_until]: UTF-8 or "
                         "GB18030/GBK, all or nothing, errors name the line", epilog=f"Dates: {DATE_RULE}.")
    imp.add_argument("file", help="the CSV file")
    add_encoding_option(imp)
    ops.add_parser("export", help="households as CSV on stdout")
    p.set_defaults(func=run)
