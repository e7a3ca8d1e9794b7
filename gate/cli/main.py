"""`gatectl`: run the daemon, check a config, drive a simulated gate, manage passes, read the journal."""
from __future__ import annotations

import argparse
import json
import sys

from gate.cli import admin as cli_admin, guards as cli_guards, demo, doctor
from gate.cli.relay_safe import add_parser as add_relay_safe_parser
from gate.cli.run import EXIT_FAIL, EXIT_OK, EXIT_USAGE, cmd_run
from gate.config.schema import load_config
from gate.core.errors import ConfigError, GateError, InputError
from gate.station.cli import add_station_parser, run_station

def cmd_check_config(args) -> int:
    load_config(args.config)
    print(f"{args.config}: ok")
    return EXIT_OK


def cmd_sim(args) -> int:
    from gate.runtime.simcontrol import send_sim

    cfg = load_config(args.config, check_paths=False)
    if cfg.hardware.mode != "simulated":
        raise InputError(f"{args.config}: hardware.mode is {cfg.hardware.mode!r}; sim needs \"simulated\"")
    a = args.action
    if a == "tap":
        payload = {"uid": args.uid, "hold": args.hold, "card": args.card, "with_uid": args.with_uid,
                   "fault": args.fault}
    elif a == "reader":
        payload = {"state": args.state}
    elif a == "keypad":
        if (args.state is None) == (args.card is None):
            raise InputError("sim keypad: give one of unplug, replug, tamper-on, tamper-off or --card UID")
        a, payload = "keypad_line", {"state": args.state or f"card={args.card}"}
    elif a == "temp":
        payload = {"value": args.celsius}
    elif a == "door":
        payload = {"position": args.position}
    elif a == "keys":
        payload = {"keys": args.keys}
    elif a in ("fire", "tamper"):
        payload = {"on": args.on}
    else:
        payload = {}
    result = send_sim(cfg.storage_dir, a, payload)
    if a == "state":
        print(json.dumps(result, sort_keys=True))
    return EXIT_OK


def _add_sim_parser(sub) -> None:
    p = sub.add_parser("sim", help="act on the emulated hardware of a running simulated daemon")
    p.add_argument("-c", "--config", required=True)
    acts = p.add_subparsers(dest="action", required=True)
    tap = acts.add_parser("tap", help="a card enters the reader's field")
    tap.add_argument("uid")
    tap.add_argument("--hold", type=float, default=0.5, help="seconds the card stays (default 0.5)")
    tap.add_argument("--card", default="genuine", choices=["genuine", "clone", "magic"],
                     help="the resident's card, a UID-only clone, or a full copy on a Gen1a magic card")
    tap.add_argument("--with", dest="with_uid", metavar="UID2", help="a second card in the field (collision)")
    tap.add_argument("--fault", choices=["crc", "parity", "garble", "leave"], help="a radio fault during the read")
    kp = acts.add_parser("keypad", help="the OSDP keypad: unplug, replug, tamper-on, tamper-off, or --card UID")
    kp.add_argument("state", nargs="?", choices=["unplug", "replug", "tamper-on", "tamper-off"])
    kp.add_argument("--card", metavar="UID", help="a card read on the keypad's own reader")
    acts.add_parser("reader", help="the reader chip: absent, absent-ff, present, reset").add_argument(
        "state", choices=["absent", "absent-ff", "present", "reset"])
    acts.add_parser("temp", help="object temperature the thermometer reads (or 'none')").add_argument("celsius")
    acts.add_parser("door", help="door contact").add_argument("position", choices=["open", "close"])
    acts.add_parser("keys", help="press keypad keys (0-9 * #)").add_argument("keys")
    acts.add_parser("exit", help="press the request-to-exit button")
    acts.add_parser("fire", help="fire-alarm release input").add_argument("on", choices=["on", "off"])
    acts.add_parser("tamper", help="enclosure tamper input").add_argument("on", choices=["on", "off"])
    acts.add_parser("state", help="print lock/door/mode as JSON")
    p.set_defaults(func=cmd_sim)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatectl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the gate daemon in the foreground")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a config file (exit 2 and one line per problem)")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)

    _add_sim_parser(sub)
    cli_admin.add_parsers(sub)
    demo.add_parser(sub)
    cli_guards.add_parser(sub)
    doctor.add_parser(sub)
    add_relay_safe_parser(sub)
    add_station_parser(sub).set_defaults(func=run_station)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except (InputError, GateError) as exc:
        print(f"gatectl: {exc}", file=sys.stderr)
        return EXIT_FAIL if not isinstance(exc, InputError) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
