"""`gatectl`: run the daemon, check a config, drive a simulated gate, manage passes, read the journal."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from . import cli_admin, cli_guards, demo, doctor
from .config import Config, load_config
from .errors import ConfigError, GateError, InputError
from .station.cli import add_station_parser, run_station

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _load(path: str, *, check_paths: bool = True) -> Config:
    return load_config(path, check_paths=check_paths)


def cmd_check_config(args) -> int:
    load_config(args.config)
    print(f"{args.config}: ok")
    return EXIT_OK


def cmd_run(args) -> int:
    import os

    from .daemon import GateDaemon
    from .sdnotify import Notifier

    cfg = _load(args.config)
    # Under systemd, journald stamps every line itself (JOURNAL_STREAM is set for us).
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format=stamp + "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("gate")
    stop = threading.Event()
    notifier = Notifier.from_env(unset=True)  # no-op unless started by systemd (Type=notify)
    daemon = GateDaemon(cfg)
    # Pinged from the main loop: a stalled loop misses WatchdogSec and systemd restarts the gate.
    daemon.loop_hooks.append(notifier.watchdog)

    def on_signal(signum, _frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()
        daemon.request_stop()

    def reloaded(future) -> None:
        # Runs on the main loop thread once the reload was applied or refused.
        exc = future.exception()
        notifier.ready(f"reload failed: {exc}" if exc else future.result().summary())

    def on_hup(_signum, _frame):
        log.info("signal SIGHUP: reloading %s", args.config)
        notifier.reloading()
        daemon.reload(args.config).add_done_callback(reloaded)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        notifier.status("starting: claiming the hardware")
        daemon.start()
        notifier.ready(f"gate {cfg.gate.id} running ({cfg.hardware.mode})")
        daemon.run(stop)
    finally:
        notifier.stopping("stopping: engaging the lock")
        daemon.close()
        notifier.close()
    return EXIT_OK


def cmd_sim(args) -> int:
    from .simcontrol import send_sim

    cfg = _load(args.config, check_paths=False)
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
