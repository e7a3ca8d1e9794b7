"""`gatectl sim`: act on a running simulated gate, then print what the gate made of it.

The action goes over the daemon's control socket; the outcome is read from the journal (the same
records the station receives), waiting a bounded time for it:
- `tap` waits for the decision: `access_granted DEADBEEF Wang Li 36.6 °C` or
  `access_refused DEADBEEF fever 38.1 °C` (exit 0 either way; exit 1 when no decision came in time;
  `--no-wait` returns at once);
- `door open` says whether the opening was authorised or raised `forced_open`;
- `keys` prints the keypad outcome (override, refusal, lockout) once a PIN ends with `#`;
- `temp`, `fire`, `tamper`, `exit`, `reader`, `keypad` confirm the new state.
"""
from __future__ import annotations

import json
import time
from typing import Callable

from gate.cli import prompts as cli_prompts
from gate.cli.run import EXIT_FAIL, EXIT_OK
from gate.config.schema import load_config
from gate.core.errors import InputError
from gate.store.journal import Journal

DECISIONS = ("access_granted", "access_refused")
KEYPAD_OUTCOMES = ("override", "override_refused", "keypad_lockout", "grant_refused", "duress", "lockdown")
TAP_WAIT_S = 15.0        # screening may sample for a few seconds before it decides
INPUT_WAIT_S = 3.0       # door debounce and the main loop: well under a second


class _Journal:
    """The gate's journal, read only for what came after the action."""

    def __init__(self, cfg):
        self._cfg = cfg
        self.start = self._read(lambda j: j.last_seq)

    def _read(self, fn):
        with Journal(self._cfg.storage_dir / "journal.db", self._cfg.gate.id) as journal:
            return fn(journal)

    def since(self) -> list:
        return self._read(lambda j: j.records(from_seq=self.start + 1))

    def wait(self, found: Callable[[list], object], timeout: float):
        """Poll the journal until `found(records since the action)` is truthy, or `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = found(self.since())
            if result or time.monotonic() >= deadline:
                return result
            time.sleep(0.05)


def _temperature(fields: dict) -> str:
    t = fields.get("temperature_c")
    return f" {t:.1f} °C" if isinstance(t, (int, float)) else ""


def describe_decision(rec) -> str:
    f = rec.fields
    if rec.type == "access_granted":
        who = f" {f['name']}" if f.get("name") else ""
        return f"access_granted {f.get('card')}{who}{_temperature(f)}"
    detail = f" ({f['detail']})" if f.get("reason") == "screening_unavailable" and f.get("detail") else ""
    return f"access_refused {f.get('card')} {f.get('reason')}{_temperature(f)}{detail}"


def _tap(cfg, send, args) -> int:
    journal = None if args.no_wait else _Journal(cfg)
    result = send("tap", {"uid": args.uid, "hold": args.hold, "card": args.card,
                          "with_uid": args.with_uid, "fault": args.fault})
    card = result["card"]
    if journal is None:
        print(f"tapped {card} (held {result['hold']:g} s); not waiting for the decision")
        return EXIT_OK
    decision = journal.wait(
        lambda recs: next((r for r in recs if r.type in DECISIONS and r.fields.get("card") == card), None),
        args.wait)
    if decision is None:
        holds = send("state", {}).get("reader_holds")
        why = (f"the reader still counts {holds} as in the field from an earlier tap" if holds
               else "no card was read (a radio fault? see gatectl events)")
        print(f"tapped {card}: no decision within {args.wait:g} s: {why}")
        return EXIT_FAIL
    print(describe_decision(decision))
    return EXIT_OK


def _door(cfg, send, args) -> int:
    journal = _Journal(cfg)
    send("door", {"position": args.position})
    wanted = "door_opened" if args.position == "open" else "door_closed"
    recs = journal.wait(lambda rs: rs if any(r.type == wanted for r in rs) else None, INPUT_WAIT_S)
    if not recs:
        state = send("state", {})
        print(f"door {args.position}: no {wanted} record within {INPUT_WAIT_S:g} s "
              f"(door is {state.get('door')})")
        return EXIT_FAIL
    if args.position == "open":
        opened = next(r for r in recs if r.type == "door_opened")
        if opened.fields.get("authorised"):
            print(f"door_opened (authorised: {opened.fields.get('grant', 'grant')})")
        else:
            forced = any(r.type == "forced_open" for r in recs)
            print("door_opened (not authorised): " + ("forced_open alarm raised" if forced
                                                       else "an alarm for this opening is already active"))
        return EXIT_OK
    recs = journal.wait(lambda rs: rs if any(r.type == "relocked" for r in rs) else None, 0.5) or recs
    relocked = any(r.type == "relocked" for r in recs)
    print("door_closed" + (", relocked" if relocked else f"; lock is {send('state', {}).get('lock')}"))
    return EXIT_OK


def _keys(cfg, send, args) -> int:
    journal = _Journal(cfg)
    send("keys", {"keys": args.keys})
    if not args.keys.endswith("#"):
        print(f"pressed {args.keys} (a PIN is entered with #)")
        return EXIT_OK
    outcome = journal.wait(lambda rs: [r for r in rs if r.type in KEYPAD_OUTCOMES], 10.0)
    if not outcome:
        print(f"pressed {args.keys}: the keypad gave no outcome within 10 s")
        return EXIT_FAIL
    parts = []
    for r in outcome:
        f = r.fields
        if r.type == "override_refused":
            parts.append(f"override_refused (wrong PIN, attempt {f.get('attempts')})")
        elif r.type == "keypad_lockout":
            parts.append(f"keypad_lockout ({f.get('seconds')} s)")
        elif r.type == "lockdown":
            parts.append(f"lockdown {'on' if f.get('on') else 'off'}")
        else:
            parts.append(f"{r.type} {f.get('guard') or f.get('reason') or ''}".strip())
    print("; ".join(parts))
    return EXIT_OK


def _input(cfg, send, action: str, payload: dict, record_type: str | None, done: str) -> int:
    journal = _Journal(cfg) if record_type else None
    send(action, payload)
    if journal is not None:
        seen = journal.wait(lambda rs: any(r.type == record_type for r in rs), INPUT_WAIT_S)
        if not seen:
            print(f"{done}; but no {record_type} record within {INPUT_WAIT_S:g} s (see gatectl events)")
            return EXIT_FAIL
    print(done)
    return EXIT_OK


def cmd_sim(args) -> int:
    from gate.runtime.simcontrol import send_sim

    cfg = load_config(args.config, check_paths=False)
    if cfg.hardware.mode != "simulated":
        raise InputError(f"{args.config}: hardware.mode is {cfg.hardware.mode!r}; sim needs \"simulated\"")

    def send(action: str, payload: dict):
        return send_sim(cfg.storage_dir, action, payload)

    a = args.action
    if a in ("tap", "door", "keys", "fire", "tamper", "exit") and not getattr(args, "no_wait", False):
        send("state", {})          # no daemon: say so before touching its journal
    if a == "tap":
        return _tap(cfg, send, args)
    if a == "door":
        return _door(cfg, send, args)
    if a == "keys":
        return _keys(cfg, send, args)
    if a == "state":
        print(json.dumps(send("state", {}), sort_keys=True))
        return EXIT_OK
    if a == "temp":
        result = send("temp", {"value": args.celsius})
        reads = "nothing (no person in front of it)" if result["temp"] is None else f"{result['temp']:.1f} °C"
        print(f"thermometer reads {reads}")
        return EXIT_OK
    if a == "fire":
        on = args.on == "on"
        return _input(cfg, send, "fire", {"on": args.on}, "fire_release" if on else None,
                      "fire release on: lock released (fire_release alarm)" if on
                      else "fire release off: the lock follows its normal state again")
    if a == "tamper":
        on = args.on == "on"
        return _input(cfg, send, "tamper", {"on": args.on}, "tamper" if on else None,
                      "tamper on: tamper alarm raised" if on else "tamper off: enclosure closed")
    if a == "exit":
        return _input(cfg, send, "exit", {}, "exit_request", "exit_request: lock released for the exit")
    if a == "reader":
        send("reader", {"state": args.state})
        print(f"reader chip: {args.state}")
        return EXIT_OK
    if a == "keypad":
        if (args.state is None) == (args.card is None):
            raise InputError("sim keypad: give one of unplug, replug, tamper-on, tamper-off or --card UID")
        result = send("keypad_line", {"state": args.state or f"card={args.card}"})
        print(f"keypad: {result['keypad']}" + (f" {result['card']}" if "card" in result else ""))
        return EXIT_OK
    raise InputError(f"sim: unknown action {a!r}")


def add_parser(sub) -> None:
    p = sub.add_parser("sim", help="act on the emulated hardware of a running simulated daemon and "
                       "print what the gate made of it")
    p.add_argument("-c", "--config", required=True, metavar="CONFIG", help="the gate's TOML config")
    acts = p.add_subparsers(dest="action", required=True)
    tap = acts.add_parser("tap", help="a card enters the reader's field; prints the gate's decision")
    tap.add_argument("uid", help="card UID, 4 or 7 bytes in hex (colons and spaces allowed)")
    tap.add_argument("--hold", type=float, default=0.5, help="seconds the card stays (default 0.5)")
    tap.add_argument("--card", default="genuine", choices=["genuine", "clone", "magic"],
                     help="the resident's card, a UID-only clone, or a full copy on a Gen1a magic card")
    tap.add_argument("--with", dest="with_uid", metavar="UID2", help="a second card in the field (collision)")
    tap.add_argument("--fault", choices=["crc", "parity", "garble", "leave"], help="a radio fault during the read")
    tap.add_argument("--wait", type=float, default=TAP_WAIT_S, metavar="S",
                     help=f"seconds to wait for the decision (default {TAP_WAIT_S:g}); exit 1 if none")
    tap.add_argument("--no-wait", action="store_true", help="return once the card is in the field")
    kp = acts.add_parser("keypad", help="the OSDP keypad: unplug, replug, tamper-on, tamper-off, or --card UID")
    kp.add_argument("state", nargs="?", choices=["unplug", "replug", "tamper-on", "tamper-off"],
                    help="what happens to the keypad's cable or tamper switch")
    kp.add_argument("--card", metavar="UID", help="a card read on the keypad's own reader")
    acts.add_parser("reader", help="the reader chip: absent, absent-ff, present, reset").add_argument(
        "state", choices=["absent", "absent-ff", "present", "reset"],
        help="absent: MISO reads 0x00; absent-ff: 0xFF; present: back; reset: a spontaneous chip reset")
    acts.add_parser("temp", help="object temperature the thermometer reads (or 'none')").add_argument(
        "celsius", help="degrees Celsius (e.g. 36.6), or none: nobody in front of the sensor")
    acts.add_parser("door", help="door contact; prints door_opened (authorised or forced_open) / door_closed"
                    ).add_argument("position", choices=["open", "close"], help="open or close the door")
    acts.add_parser("keys", help="press keypad keys (0-9 * #); prints the keypad's outcome").add_argument(
        "keys", help="the keys in order, e.g. '246802#'")
    acts.add_parser("exit", help="press the request-to-exit button")
    acts.add_parser("fire", help="fire-alarm release input").add_argument("on", choices=["on", "off"],
                                                                          help="on: released; off: cleared")
    acts.add_parser("tamper", help="enclosure tamper input").add_argument("on", choices=["on", "off"],
                                                                          help="on: enclosure opened")
    acts.add_parser("state", help="print lock, door, mode, alarms as JSON (keys sorted)")
    cli_prompts.add_sim_display_parser(acts)
    p.set_defaults(func=cmd_sim)
