"""`gatectl`: run the daemon, check a config, drive a simulated gate, manage passes, read the journal."""
from __future__ import annotations

import argparse
import sys

from gate.cli import admin as cli_admin, guards as cli_guards, demo, doctor, prompts as cli_prompts, sim
from gate.cli.errors import report_os_error, storage_hint
from gate.cli.relay_safe import add_parser as add_relay_safe_parser
from gate.cli.run import EXIT_FAIL, EXIT_OK, EXIT_USAGE, cmd_run
from gate.config.schema import load_config
from gate.core.errors import ConfigError, GateError, InputError
from gate.station.cli import add_station_parser, run_station

EPILOG = """exit codes: 0 done; 1 failed (the gate refused, no daemon answers, a command was not
confirmed); 2 bad input or config (each problem named) or another daemon runs on the storage dir;
3 the station cannot reach its broker (station commands); 130 interrupted.
docs/interface.md lists every command, option and output."""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("compound-gate")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _is_station_config(path: str) -> bool:
    """A station config has a [station] table or [gates.*] tables; a gate config has [gate]."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return False                        # the gate loader reports it with line and column
    return "gate" not in doc and ("station" in doc or "gates" in doc)


def cmd_check_config(args) -> int:
    station = args.station or (not args.gate and _is_station_config(args.config))
    if station:
        from gate.station.config import load_station_config

        cfg = load_station_config(args.config)
        for warning in cfg.warnings:
            print(f"{args.config}: {warning}", file=sys.stderr)
        print(f"{args.config}: ok (station config)")
        return EXIT_OK
    from gate.config.checks import transport_warnings

    cfg = load_config(args.config)
    for warning in transport_warnings(cfg):  # warnings do not change the exit status
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatectl", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gatectl {_version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the gate daemon in the foreground (one per storage dir)")
    p.add_argument("-c", "--config", required=True, metavar="CONFIG", help="the gate's TOML config")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log verbosity on stderr (default info)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a gate or station config file "
                       "(exit 2 and one key.path line per problem)")
    p.add_argument("config", help="the TOML file; a station config is recognised by its [station] "
                   "or [gates.*] tables")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--station", action="store_true", help="check it as a station config")
    kind.add_argument("--gate", action="store_true", help="check it as a gate config")
    p.set_defaults(func=cmd_check_config)

    sim.add_parser(sub)
    cli_admin.add_parsers(sub)
    demo.add_parser(sub)
    cli_guards.add_parser(sub)
    doctor.add_parser(sub)
    cli_prompts.add_parser(sub)
    add_relay_safe_parser(sub)
    add_station_parser(sub).set_defaults(func=run_station)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:             # `gatectl --help | head -1`
        return _closed_stdout()
    try:
        code = args.func(args)
        sys.stdout.flush()              # a closed pipe shows here, not as a warning at exit
        return code
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except (InputError, GateError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            return report_os_error(exc)
        print(f"gatectl: {exc}{storage_hint(exc)}", file=sys.stderr)
        return EXIT_FAIL if not isinstance(exc, InputError) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_stdout()
    except OSError as exc:              # permissions, a missing folder, a full disk: one line
        return report_os_error(exc)
    except Exception as exc:  # noqa: BLE001 - sqlite3 errors (a full disk, a locked database) etc.
        import sqlite3

        if isinstance(exc, sqlite3.Error):
            return report_os_error(exc)
        raise


def _closed_stdout() -> int:
    """`gatectl doctor | head`: the reader went away; leave quietly, as other tools do."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
