"""gatectl's community-rules commands: `passes visitor|quarantine` and `households ...`."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gate.core.errors import InputError
from gate.store.passes import PassStore
from gate.core.passes import make_pass
from gate.core.timefmt import parse_ts
from gate.core.uid import normalize_uid
from gate.rules.commands import quarantine_end
from gate.rules.households import Household, check_household_id, parse_household_csv
from gate.store.households import HouseholdStore

MAX_VISIT_HOURS = 24 * 31


def _now() -> datetime:
    return datetime.now(timezone.utc)


def read_csv_file(name: str) -> tuple[str, Path]:
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8-sig"), path
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _observation(args) -> datetime | None:
    return quarantine_end(args.until, args.days, True if args.lift else None, _now())


def _say_quarantine(what: str, end: datetime | None) -> None:
    print(f"{what}: quarantine lifted" if end is None else f"{what}: under observation until {end.isoformat()}")


def passes_visitor(store: PassStore, args) -> None:
    """A visitor pass: always time-limited (--until, or --hours from --from/now)."""
    start = parse_ts(args.valid_from) if args.valid_from else _now()
    if (args.valid_until is None) == (args.hours is None):
        raise InputError("--until/--hours: give exactly one (a visitor pass always ends)")
    if args.hours is not None:
        if not 0 < args.hours <= MAX_VISIT_HOURS:
            raise InputError(f"--hours: must be between 0 and {MAX_VISIT_HOURS}, got {args.hours:g}")
        end = start + timedelta(hours=args.hours)
    else:
        end = args.valid_until
    p = make_pass(args.uid, args.name, args.household, start, end, "visitor")
    store.add(p)
    print(f"visitor pass {p.card} for {p.name}: {p.valid_from.isoformat()} until {p.valid_until.isoformat()}")


def passes_quarantine(store: PassStore, args) -> None:
    uid = normalize_uid(args.uid)
    end = _observation(args)
    if not store.set_quarantine(uid, end):
        raise InputError(f"quarantine: no pass for card {uid}")
    _say_quarantine(uid, end)


def add_pass_parsers(ops) -> None:
    v = ops.add_parser("visitor", help="issue a visitor pass with a validity window")
    v.add_argument("uid")
    v.add_argument("--name", required=True)
    v.add_argument("--household", help="the household visited")
    v.add_argument("--from", dest="valid_from", help="ISO 8601 start (default: now)")
    v.add_argument("--until", dest="valid_until", help="ISO 8601 end")
    v.add_argument("--hours", type=float, help="length of the visit from its start")
    _quarantine_args(ops.add_parser("quarantine", help="put one pass under home observation (or --lift)"), "uid")


def _quarantine_args(q, key: str) -> None:
    q.add_argument(key)
    q.add_argument("--until", help="ISO 8601 date-time the observation ends (a bare date: midnight UTC)")
    q.add_argument("--days", type=float, help="observation of this many days from now")
    q.add_argument("--lift", action="store_true", help="end the observation now")


def cmd_households(args, storage_dir: Path) -> int:
    with HouseholdStore(storage_dir / "registry.db") as store:
        if args.op == "add":
            store.add(Household(check_household_id(args.household), args.name or "", args.note or ""))
            print(f"added household {args.household.strip()}")
        elif args.op == "quarantine":
            hid = check_household_id(args.household)
            end = _observation(args)
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
            text, path = read_csv_file(args.file)
            n = store.upsert_many(parse_household_csv(text, source=str(path)))
            print(f"imported {n} households from {path}")
        elif args.op == "export":
            store.write_csv(sys.stdout)
    return 0


def add_household_parser(sub, run) -> None:
    p = sub.add_parser("households", help="households: add, list, quarantine, import, export")
    p.add_argument("-c", "--config", required=True)
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="create (or rename) a household")
    add.add_argument("household")
    add.add_argument("--name")
    add.add_argument("--note")
    lst = ops.add_parser("list")
    lst.add_argument("--json", action="store_true")
    _quarantine_args(ops.add_parser("quarantine", help="home observation of a whole household (or --lift)"), "household")
    ops.add_parser("import", help="CSV with header household[,name,note,quarantine_until]").add_argument("file")
    ops.add_parser("export", help="households as CSV on stdout")
    p.set_defaults(func=run)
