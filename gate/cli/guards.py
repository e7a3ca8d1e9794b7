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
    cfg = load_config(args.config, check_paths=False)
    cfg.storage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with GuardStore(cfg.storage_dir / "registry.db") as store:
        if args.op == "add":
            pin = _read_pin("PIN")
            duress = _read_pin("duress PIN (second line)") if args.duress else None
            store.add(args.guard_id, pin, duress_pin=duress, min_length=cfg.keypad.min_pin_length)
            print(f"guard {args.guard_id} registered" + (" with a duress PIN" if duress else ""))
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
    p.add_argument("-c", "--config", required=True)
    ops = p.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", help="register a guard; the PIN is the first line of stdin")
    add.add_argument("guard_id")
    add.add_argument("--duress", action="store_true", help="also read a duress PIN from the second line")
    ops.add_parser("remove").add_argument("guard_id")
    ops.add_parser("list")
    p.set_defaults(func=cmd_guards)
