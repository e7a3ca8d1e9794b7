"""`gatectl guards`: register guards and their PINs (read from stdin, never from argv), list, remove."""
from __future__ import annotations

import sys

from gate.config.schema import load_config
from gate.core.errors import InputError
from gate.store.guards import GuardStore


def _read_pin(label: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise InputError(f"{label}: expected on a line of standard input (e.g. printf '%s\\n' PIN | gatectl ...)")
    return line.strip()


def cmd_guards(args) -> int:
    from gate.cli.admin import storage_dir

    cfg = load_config(args.config, check_paths=False)
    with GuardStore(storage_dir(cfg) / "registry.db") as store:
        if args.op == "add":
            if args.duress and args.no_duress:
                raise InputError("--duress and --no-duress: give one")
            pin = _read_pin("PIN")
            duress = _read_pin("duress PIN (second line)") if args.duress else None
            store.add(args.guard_id, pin, duress_pin=duress, min_length=cfg.keypad.min_pin_length,
                      replace=args.replace, drop_duress=args.no_duress)
            verb = "PINs replaced for guard" if args.replace else "guard"
            tail = " registered" if not args.replace else ""
            print(f"{verb} {args.guard_id}{tail}" + (" with a duress PIN" if duress else
                                                    ", duress PIN removed" if args.no_duress else ""))
        elif args.op == "remove":
            if not store.remove(args.guard_id):
                raise InputError(f"remove: no guard {args.guard_id!r}")
            print(f"guard {args.guard_id} removed")
        elif args.op == "list":
            for g in store.list():
                print(f"{g.guard_id:<20} duress PIN: {'yes' if g.has_duress else 'no ':<4} updated {g.updated_at}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("guards", help="guards and their keypad PINs (stored scrypt-hashed)")
    p.add_argument("-c", "--config", required=True, metavar="CONFIG", help="the gate's TOML config")
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="register a guard; the PIN is the first line of stdin "
                         "(an existing guard is refused: --replace)")
    add.add_argument("guard_id", help="1-64 letters, digits, '.', '_' or '-'")
    add.add_argument("--duress", action="store_true", help="also read a duress PIN from the second line")
    add.add_argument("--replace", action="store_true",
                     help="set new PINs for an existing guard (one with a duress PIN needs --duress or --no-duress)")
    add.add_argument("--no-duress", action="store_true", help="with --replace: remove the guard's duress PIN")
    ops.add_parser("remove", help="forget a guard and her PINs").add_argument("guard_id", help="the guard's id")
    ops.add_parser("list", help="guards, whether each has a duress PIN, when last changed")
    p.set_defaults(func=cmd_guards)
