"""`gatectl station -c STATION.toml watch | send | ack | gaps | receivers status` (hooked into gatectl by the lead)."""
from __future__ import annotations

import argparse
import contextlib
import difflib
import getpass
import json
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from gate.core.errors import ConfigError, GateError, InputError
from gate.station import history
from gate.station.commands import CommandChannel, CommandResult, StationLinkError
from gate.station.config import StationConfig, load_station_config
from gate.station.link import start_consumer_retrying
from gate.station.receivers import attach_receivers, fan_out
from gate.station.registry_cli import add_registry_parser, run_registry
from gate.station.report_cli import add_report_parser, run_report
from gate.station.store import StationStore, is_database_url, open_station_store
from gate.station.view import JsonPrinter, StationView, run_live
from gate.core.timefmt import parse_ts

EXIT_OK, EXIT_REJECTED, EXIT_CONFIG, EXIT_LINK = 0, 1, 2, 3
MAX_QUARANTINE_DAYS = 366  # the gate's limit (gate/rules/commands.py)
_CARD = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14})$")


def add_station_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `station` and its subcommands to gatectl's subparsers; dispatch with `run_station(args)`."""
    p = subparsers.add_parser("station", help="the police station console: watch gates, send commands")
    p.add_argument("-c", "--config", required=True, metavar="STATION.toml", help="station configuration")
    sub = p.add_subparsers(dest="station_cmd", required=True, metavar="{serve,watch,history,send,ack,gaps,officers,receivers,passes,prune}")

    w = sub.add_parser("watch", help="live view of every gate (alarms first); --json for integration")
    w.add_argument("--json", action="store_true", help="print one JSON record per line instead")
    w.add_argument("--client-id", help="MQTT client id (default: from the config)")

    s = sub.add_parser("send", help="sign and send a command to a gate, print its result")
    s.add_argument("gate", metavar="GATE", help="the gate id (a [gates.\"ID\"] table of the config)")
    s.add_argument("--timeout", type=float, help="seconds to wait for the result")
    acts = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = acts.add_parser("unlock", help="release the lock")
    a.add_argument("--seconds", type=int, help="how long (1-60 s; default: the gate's lock.unlock_seconds)")
    a = acts.add_parser("lockdown", help="lockdown on|off")
    a.add_argument("state", choices=("on", "off"), help="on: only guards and fire open the door; off: normal")
    a = acts.add_parser("replay", help="republish journal records FROM [TO] (historical)")
    a.add_argument("from_seq", type=int, metavar="FROM", help="first journal seq to republish")
    a.add_argument("to_seq", type=int, nargs="?", metavar="TO", help="last one (default: the newest)")
    a = acts.add_parser("passes", help="upsert and/or revoke passes")
    a.add_argument("--upsert-json", metavar="JSON|@FILE",
                   help='list of {"card","name","household"?,"valid_from"?,"valid_until"?}')
    a.add_argument("--revoke", nargs="+", default=[], metavar="CARD",
                   help="cards to revoke; a card the gate has no pass for is reported and exits 1")
    a = acts.add_parser("quarantine", help="put a household or pass under home observation, or lift it")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("--household", help="household id, e.g. 3-2-501")
    who.add_argument("--card", help="the pass's card UID")
    end = a.add_mutually_exclusive_group(required=True)
    end.add_argument("--until", help="end of observation: ISO 8601 date-time, or a bare date: through that "
                     "day in the gate's gate.timezone")
    end.add_argument("--days", type=float, help="end of observation: this many days from now (up to 366)")
    end.add_argument("--lift", action="store_true", help="end the observation now")
    a = acts.add_parser("ack", help="acknowledge alarms by seq (also recorded locally)")
    a.add_argument("seqs", type=int, nargs="+", metavar="ALARM_SEQ", help="journal seqs of the alarms")
    a.add_argument("--by", help="officer name (default: login name)")
    a = acts.add_parser("raw", help="any other action: raw NAME [--arg KEY=JSON ...]")
    a.add_argument("name", help="the action's name")
    a.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="argument; VALUE parsed as JSON when it is JSON, else a string")

    k = sub.add_parser("ack", help="acknowledge an alarm on the gate; exit 0 only when the gate confirms "
                       "it was an active alarm")
    k.add_argument("gate", metavar="GATE", help="the gate id")
    k.add_argument("seq", type=int, metavar="SEQ", help="the alarm record's journal seq (shown by watch)")
    k.add_argument("--by", help="officer name (default: login name)")
    k.add_argument("--note", help="what was done, e.g. 'patrol dispatched' (kept at the station, shown on the console)")
    k.add_argument("--timeout", type=float, help="seconds to wait for the gate's answer")

    g = sub.add_parser("gaps", help="print the known gaps in each gate's sequence")
    g.add_argument("--json", action="store_true", help="one JSON object per gap")
    add_receivers_parser(sub)
    add_console_parsers(sub)
    history.add_parser(sub)
    add_registry_parser(sub)
    add_prune_parser(sub)
    add_report_parser(sub)
    return p


def add_receivers_parser(sub: argparse._SubParsersAction) -> None:
    """`receivers status [--probe] [--json]`: the SIA DC-09 receiver links (gate/station/receivers_status.py)."""
    r = sub.add_parser("receivers", help="SIA DC-09 alarm receivers: link status")
    rs = r.add_subparsers(dest="receivers_cmd", required=True, metavar="{status}")
    st = rs.add_parser("status", help="each receiver link, doctor-style; exit 1 when one is down")
    st.add_argument("--probe", action="store_true", help="also send each receiver a NULL link test now")
    st.add_argument("--json", action="store_true", help="one JSON object per receiver")


def _receivers(cfg: StationConfig, args: argparse.Namespace) -> int:
    from gate.station.receivers_status import print_rows, receiver_rows

    logging.getLogger("gate.dc09").setLevel(logging.ERROR)  # a probe's outcome is in the table already
    return print_rows(receiver_rows(cfg, probe=args.probe), args.json)


def add_console_parsers(sub: argparse._SubParsersAction) -> None:
    """`serve` (consumer + web console) and `officers add` (accounts)."""
    sub.add_parser("serve", help="run the station: store every record, fill gaps, serve the web console")
    o = sub.add_parser("officers", help="officer accounts of the web console")
    oa = o.add_subparsers(dest="officers_cmd", required=True, metavar="{add,list}")
    a = oa.add_parser("add", help="create or replace an account; the password is the first line of stdin")
    a.add_argument("name", metavar="NAME", help="the login name")
    a.add_argument("--role", choices=("officer", "supervisor", "guard"), default="officer",
                   help="officer (acknowledges), supervisor (also sees escalations), guard (one compound)")
    a.add_argument("--compound", default="", help="a guard's compound (they see only its gates)")
    a.add_argument("--language", choices=("en", "zh-CN"), default="en", help="the console's language for this account")
    oa.add_parser("list", help="list the accounts")


def require_sqlite_store(cfg: StationConfig, what: str) -> None:
    """The web console's own tables (officers, sessions, claims, audit, snapshots) and the watch board
    live in the SQLite store file only for now: a PostgreSQL store is refused clearly, not half-used."""
    if is_database_url(cfg.store):
        raise ConfigError([f"station.store: {what} needs a SQLite store file for now (its officers, sessions, "
                           "claims and audit tables are not on PostgreSQL yet); the PostgreSQL store serves "
                           "`watch --json`, `ack` and `gaps`"])


def _serve(cfg: StationConfig) -> int:
    require_sqlite_store(cfg, "serve (the web console)")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        from gate.station.web.server import serve
    except ImportError as exc:
        print(f"station: serve needs the web stack: pip install 'compound-gate[station]' ({exc})", file=sys.stderr)
        return EXIT_CONFIG
    return serve(cfg)


def _officers(cfg: StationConfig, args: argparse.Namespace) -> int:
    from gate.station.accounts import Accounts

    require_sqlite_store(cfg, "officers (the web console's accounts)")
    with Accounts(cfg.store) as accounts:
        if args.officers_cmd == "list":
            for o in accounts.officers():
                print(f"{o.name}\t{o.role}\t{o.compound or '-'}\t{o.language}")
            return EXIT_OK
        password = sys.stdin.readline().rstrip("\r\n")
        officer = accounts.add_officer(args.name, password, role=args.role, compound=args.compound,
                                       language=args.language)
    print(f"officer {officer.name}: {officer.role}" + (f" of {officer.compound}" if officer.compound else ""))
    return EXIT_OK


def run_station(args: argparse.Namespace) -> int:
    """Run a parsed `gatectl station ...` command; returns the exit code (docs/station.md: 0 done
    and confirmed, 1 the gate refused or did not confirm, 2 bad config or arguments, 3 no broker)."""
    try:
        cfg = load_station_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    for warning in cfg.warnings:
        print(f"station: {warning}", file=sys.stderr)
    try:
        if args.station_cmd in ("send", "ack"):
            check_gate(cfg, args.gate)
        if args.station_cmd == "watch":
            return _watch(cfg, args)
        if args.station_cmd == "send":
            return _send(cfg, args)
        if args.station_cmd == "serve":
            return _serve(cfg)
        if args.station_cmd == "officers":
            return _officers(cfg, args)
        if args.station_cmd == "ack":
            return _ack(cfg, args.gate, [args.seq], args.by, args.timeout, note=args.note)
        if args.station_cmd == "receivers":
            return _receivers(cfg, args)
        if args.station_cmd == "history":
            require_sqlite_store(cfg, "history")
            return history.run(cfg, args, sys.stdout)
        if args.station_cmd == "passes":
            return run_registry(cfg, args)
        if args.station_cmd == "prune":
            return _prune(cfg, args)
        if args.station_cmd == "report":
            return run_report(cfg, args)
        return _gaps(cfg, args)
    except StationLinkError as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_LINK
    except ConfigError as exc:
        for line in exc.problems:
            print(f"station: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:               # a secret or store file that cannot be read: the config's fault
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"station: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ValueError, GateError) as exc:  # InputError is a ValueError
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ValueError) else EXIT_LINK


def check_gate(cfg: StationConfig, gate: str) -> None:
    """A gate id the config knows (every gate has its own secret: there is no shared default);
    InputError naming the known ones otherwise (exit 2)."""
    if gate in cfg.gate_secrets:
        path = cfg.secret_file_for(gate)
        key = f"gates.{gate}.secret_file"
        try:
            cfg.secret_for(gate)             # before the broker: a missing secret is the config's fault
        except OSError as exc:
            raise ConfigError([f"{key}: {path}: {exc.strerror or exc}; copy the gate's "
                               "mqtt.command_secret_file there (mode 0600, docs/install.md)"]) from None
        except ValueError as exc:
            raise ConfigError([f"{key}: {exc}"]) from None
        return
    known = cfg.known_gates
    close = [g for g in known if g.lower() == gate.lower()] or difflib.get_close_matches(gate, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(f"unknown gate {gate!r}{hint}; known gates: {', '.join(known) or 'none'} "
                     f"(add a [gates.\"{gate}\"] table with its secret_file to the station config)")


def _watch(cfg: StationConfig, args: argparse.Namespace) -> int:
    if not args.json:
        require_sqlite_store(cfg, "watch (the live board; `watch --json` works on PostgreSQL)")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    listeners: list = [JsonPrinter()] if args.json else []
    forwarder = attach_receivers(cfg, listeners)  # [[receivers]]: alarms also go out over DC-09
    with contextlib.closing(forwarder) if forwarder else contextlib.nullcontext():
        # A missing broker is waited for (with backoff), not a reason to exit: watch runs for hours.
        consumer = start_consumer_retrying(cfg, stop, client_id=args.client_id,
                                           on_record=fan_out(listeners) if listeners else None)
        if consumer is None:
            return EXIT_OK
        with consumer:
            if args.json:
                stop.wait()
            else:
                with StationStore(cfg.store) as store:  # the view reads its own connection
                    run_live(StationView(store, cfg=cfg), stop)
    return EXIT_OK


def _print_result(gate: str, action: str, result: CommandResult) -> int:
    if action == "passes" and result.ok:
        return _print_passes_result(gate, result)
    print(f"{gate} {action} {result.describe()}")
    return EXIT_OK if result.ok else EXIT_REJECTED


def _print_passes_result(gate: str, result: CommandResult) -> int:
    """Upserted and revoked counts; cards the gate has no pass for make it exit 1."""
    p = result.payload
    unknown = [c for c in p.get("unknown") or [] if isinstance(c, str)]
    line = f"{gate} passes {result.cmd_id}: upserted {p.get('upserted', 0)}, revoked {p.get('revoked', 0)}"
    if unknown:
        print(f"{line}; NOT revoked, the gate has no pass for: {', '.join(unknown)}")
        return EXIT_REJECTED
    print(f"{line}: ok")
    return EXIT_OK


def _send(cfg: StationConfig, args: argparse.Namespace) -> int:
    if args.action == "ack":
        return _ack(cfg, args.gate, args.seqs, args.by, args.timeout)
    action, payload = command_args(args)
    with CommandChannel(cfg) as channel:
        return _print_result(args.gate, action, channel.send(args.gate, action, payload, timeout=args.timeout))


def _ack(cfg: StationConfig, gate: str, seqs: list[int], by: str | None, timeout: float | None, *,
         note: str | None = None) -> int:
    officer = by or getpass.getuser()
    code = EXIT_OK
    with open_station_store(cfg.store) as store, CommandChannel(cfg) as channel:
        channel.watch_results(gate)
        for seq in seqs:
            if seq < 1:
                raise InputError(f"alarm seq must be >= 1, got {seq}")
            cmd = channel.sender.publish(gate, "ack", {"seq": seq, "by": officer})
            fresh = store.ack(gate, seq, by=officer, cmd_id=cmd["cmd_id"])
            wait = timeout or cfg.result_timeout_seconds
            result = channel.sender.pending.wait(cmd["cmd_id"], wait)
            confirmed = result.ok and seq in (result.payload.get("acknowledged") or [])
            if result.timed_out:
                print(f"{gate} alarm {seq}: NOT confirmed: no answer from the gate within {wait:g} s "
                      f"(recorded locally as acknowledged by {officer}; {cmd['cmd_id']})")
            elif confirmed:
                store.set_ack_result(gate, seq, ok=True)
                if note and not is_database_url(cfg.store):  # the console's tables: SQLite only for now
                    _keep_note(cfg, gate, seq, officer, note, cmd["cmd_id"])
                print(f"{gate} alarm {seq} acknowledged by {officer}: the gate confirmed ({cmd['cmd_id']})")
            else:
                error = result.error or ("the gate accepted the command but did not confirm the alarm "
                                         "(a gate older than this station?)")
                if fresh:
                    store.withdraw_ack(gate, seq)        # the alarm stays unacknowledged on screen
                else:
                    store.set_ack_result(gate, seq, ok=False, error=error)
                print(f"{gate} alarm {seq}: NOT acknowledged: {error} ({cmd['cmd_id']})")
            code = max(code, EXIT_OK if confirmed else EXIT_REJECTED)
    return code


def _keep_note(cfg: StationConfig, gate: str, seq: int, officer: str, note: str, cmd_id: str) -> None:
    """The officer's note beside the acknowledgement, where the web console shows it."""
    from gate.station.console_store import ConsoleStore

    with ConsoleStore(cfg.store) as console:
        console.record_ack(gate, seq, officer, note[:1000], cmd_id)
        console.audit(officer, "ack", f"{gate}/{seq}", note[:1000])


def _gaps(cfg: StationConfig, args: argparse.Namespace) -> int:
    with open_station_store(cfg.store) as store:
        gaps = store.gaps()
        for gap in gaps:
            asked, last = store.replay_history(gap.gate)
            if args.json:
                print(json.dumps({"gate": gap.gate, "from_seq": gap.from_seq, "to_seq": gap.to_seq,
                                  "missing": gap.size, "replays_asked": asked, "last_asked": last}))
            else:
                print(f"{gap.gate}: {gap.from_seq}-{gap.to_seq} ({gap.size} missing; "
                      f"{asked} replays asked, last {last or 'never'})")
        if not gaps and not args.json:
            print("no gaps: every gate's sequence is complete")
    return EXIT_OK


def normalize_card(text: str) -> str:
    """A UID as the gate records it: uppercase hex, no separators, 4 or 7 bytes."""
    card = re.sub(r"[:\-\s]", "", text).upper()
    if not _CARD.match(card):
        raise InputError(f"card {text!r}: expected 4 or 7 bytes of hex")
    return card


def command_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(action, arguments) of a parsed `send` command; InputError naming a bad argument."""
    act = args.action
    if act == "unlock":
        if args.seconds is not None and not 1 <= args.seconds <= 60:
            raise InputError(f"--seconds: must be between 1 and 60, got {args.seconds}")
        return act, {} if args.seconds is None else {"seconds": args.seconds}
    if act == "lockdown":
        return act, {"on": args.state == "on"}
    if act == "replay":
        if args.from_seq < 1 or (args.to_seq is not None and args.to_seq < args.from_seq):
            raise InputError(f"replay: need 1 <= FROM <= TO, got {args.from_seq} {args.to_seq}")
        return act, {"from_seq": args.from_seq, **({} if args.to_seq is None else {"to_seq": args.to_seq})}
    if act == "passes":
        upsert = _load_upsert(args.upsert_json) if args.upsert_json else []
        if not upsert and not args.revoke:
            raise InputError("passes: give --upsert-json and/or --revoke")
        return act, {"upsert": upsert, "revoke": [normalize_card(c) for c in args.revoke]}
    if act == "quarantine":
        # The gate's format (gate/rules/commands.py): exactly one of household / card, and exactly
        # one of until / days / lift (argparse enforces both groups).
        out: dict[str, Any] = {"household": args.household} if args.household else {"card": normalize_card(args.card)}
        if args.lift:
            out["lift"] = True
        elif args.days is not None:
            if not 0 < args.days <= MAX_QUARANTINE_DAYS:
                raise InputError(f"--days: must be between 0 and {MAX_QUARANTINE_DAYS}, got {args.days:g}")
            out["days"] = int(args.days) if args.days == int(args.days) else args.days
        else:
            try:
                parse_ts(args.until)            # checked here; sent as written: the gate reads a bare
            except ValueError as exc:           # date or naive time in its gate.timezone (one rule)
                raise InputError(f"--until: {exc}") from None
            out["until"] = args.until.strip()
        return act, out
    if act == "raw":
        payload: dict[str, Any] = {}
        for item in args.arg:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InputError(f"--arg {item!r}: expected KEY=VALUE")
            try:
                payload[key] = json.loads(value)
            except ValueError:
                payload[key] = value
        return args.name, payload
    raise InputError(f"unknown action {act!r}")


def _load_upsert(text: str) -> list[dict[str, Any]]:
    source = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        data = json.loads(source)
    except ValueError as exc:
        raise InputError(f"--upsert-json: not JSON: {exc}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError("--upsert-json: expected a list of pass objects")
    out = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("card"), str) or not entry.get("name"):
            raise InputError(f"--upsert-json[{i}]: needs card and name")
        out.append({**entry, "card": normalize_card(entry["card"])})
    return out


def add_prune_parser(sub: argparse._SubParsersAction) -> None:
    """`prune [--dry-run]`: retention now (gate/station/retention.py; `serve` runs it hourly)."""
    pr = sub.add_parser("prune", help="delete records older than station.retain_days and alarms older than "
                        "station.retain_alarm_days, in small batches; print what was removed")
    pr.add_argument("--dry-run", action="store_true", help="only count what would be removed")


def _prune(cfg: StationConfig, args: argparse.Namespace) -> int:
    from gate.clock import SystemClock
    from gate.station.retention import prune

    if cfg.retain_days <= 0 and cfg.retain_alarm_days <= 0:
        print("station.retain_days and station.retain_alarm_days are 0 (keep forever): nothing to prune")
        return EXIT_OK
    with open_station_store(cfg.store) as store:
        report = prune(store, retain_days=cfg.retain_days, retain_alarm_days=cfg.retain_alarm_days,
                       now=SystemClock().wall(), dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    return EXIT_OK

def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m gate.station.cli station -c ... watch`) until gatectl hooks it."""
    parser = argparse.ArgumentParser(prog="gatectl")
    add_station_parser(parser.add_subparsers(dest="command", required=True))
    return run_station(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

