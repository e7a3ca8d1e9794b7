"""Built-in station command actions besides replay: `unlock`, `lockdown`, `ack`, `passes`.

Each handler takes the verified command object and returns a result dict (merged into the
`cmd/result` answer) or raises InputError naming the offending argument (or CommandRejected with its
own reason, e.g. `lockdown` for an unlock the gate would refuse).
"""
from __future__ import annotations

from datetime import timezone, tzinfo
from typing import Any, Callable

from gate.clock import Clock
from gate.uplink.command_gate import CommandRejected
from gate.core.errors import InputError
from gate.core.events import RemoteCommand
from gate.core.passes import Pass, make_pass
from gate.store.passes import PassStore
from gate.core.records import is_alarm
from gate.core.uid import normalize_uid

MAX_UNLOCK_SECONDS = 600
MAX_PASS_ENTRIES = 10_000
MAX_ACK_TEXT = 128
_UPSERT_FIELDS = ("card", "name", "household", "valid_from", "valid_until", "pass_type")

Handler = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def unlock_handler(post: Callable[[object], None], clock: Clock,
                   snapshot: Callable[[], dict] | None = None) -> Handler:
    """`unlock` with optional `seconds` (1..600): posts RemoteCommand('unlock') to the daemon.

    In lockdown the core refuses a remote grant (`grant_refused`), so the station gets ok:false with
    reason `lockdown` up front instead of an ok:true for a door that stays locked. `snapshot` is the
    controller's; a lockdown posted a moment earlier and not yet processed is not seen (the core
    still refuses then, and journals grant_refused). In fire mode the lock is already released: the
    unlock is moot but harmless and answered ok."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        seconds = cmd.get("seconds")
        args: dict[str, Any] = {}
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds <= MAX_UNLOCK_SECONDS:
                raise InputError(f"seconds: must be a number between 1 and {MAX_UNLOCK_SECONDS}, got {seconds!r}")
            args["seconds"] = float(seconds)
        if snapshot is not None and snapshot().get("mode") == "lockdown":
            raise CommandRejected("lockdown", "the gate is in lockdown and refuses remote unlocks; "
                                  "lift it first (action lockdown, on: false)")
        post(RemoteCommand("unlock", args, cmd["cmd_id"], clock.monotonic()))
        return {}

    return handle


def lockdown_handler(post: Callable[[object], None], clock: Clock) -> Handler:
    """`lockdown` with `on` (bool): posts RemoteCommand('lockdown') to the daemon."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        on = cmd.get("on")
        if not isinstance(on, bool):
            raise InputError(f"on: must be true or false, got {on!r}")
        post(RemoteCommand("lockdown", {"on": on}, cmd["cmd_id"], clock.monotonic()))
        return {}

    return handle


def validate_ack(cmd: dict[str, Any]) -> dict[str, Any]:
    """The arguments of an `ack` command: at least one selector of `seq` (an alarm record's seq),
    `type` (an alarm type), `alarm_id`, or `all: true` alone; optional `by` (the officer).
    InputError names the bad field: a malformed ack must never acknowledge more than it names."""
    args: dict[str, Any] = {}
    seq, alarm_type, alarm_id, every, by = (cmd.get(k) for k in ("seq", "type", "alarm_id", "all", "by"))
    if seq is not None:
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise InputError(f"seq: must be an integer >= 1 (the alarm record's seq), got {seq!r}")
        args["seq"] = seq
    if alarm_type is not None:
        if not isinstance(alarm_type, str) or not is_alarm(alarm_type):
            raise InputError(f"type: must be an alarm type (e.g. forced_open, fever), got {alarm_type!r}")
        args["type"] = alarm_type
    if alarm_id is not None:
        if not isinstance(alarm_id, str) or not 0 < len(alarm_id) <= MAX_ACK_TEXT:
            raise InputError(f"alarm_id: must be a string of 1-{MAX_ACK_TEXT} characters, got {alarm_id!r}")
        args["alarm_id"] = alarm_id
    if every is not None:
        if every is not True:
            raise InputError(f"all: must be true when given, got {every!r}")
        if args:
            raise InputError("all: cannot be combined with seq, type or alarm_id")
        args["all"] = True
    if not args:
        raise InputError("seq/type/alarm_id/all: name the alarm(s) to acknowledge")
    if by is not None:
        if not isinstance(by, str) or not 0 < len(by.strip()) <= MAX_ACK_TEXT:
            raise InputError(f"by: must be a name of 1-{MAX_ACK_TEXT} characters, got {by!r}")
        args["by"] = by.strip()
    return args


def ack_handler(post: Callable[[object], None], clock: Clock,
                snapshot: Callable[[], dict] | None = None,
                record_at: Callable[[int], Any] | None = None) -> Handler:
    """`ack` (see `validate_ack`): posts RemoteCommand('ack') to the daemon, whose core journals
    `alarm_acknowledged` for each matching active alarm.

    With `snapshot` (the controller's: its `active_alarms`), the answer tells the truth: ok:true
    only when the selector names an active, unacknowledged alarm (the result lists their seqs in
    `acknowledged`); otherwise ok:false with reason `no_such_alarm` and why: "no active alarm 9999",
    "seq 4 is access_granted, not an alarm" (`record_at(seq)`, the journal's record, tells which),
    "alarm 6 (forced_open) is already acknowledged by Officer Liu"."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        args = validate_ack(cmd)
        matched: list[int] = []
        if snapshot is not None:
            matched = _matching_alarms(args, snapshot().get("active_alarms") or [], record_at)
        post(RemoteCommand("ack", args, cmd["cmd_id"], clock.monotonic()))
        return {"acknowledged": matched} if snapshot is not None else {}

    return handle


def _matching_alarms(args: dict[str, Any], active: list[dict], record_at) -> list[int]:
    """The seqs of the active unacknowledged alarms `args` selects; CommandRejected if none."""
    def selected(alarm: dict) -> bool:
        return all((
            args.get("seq") is None or alarm.get("seq") == args["seq"],
            args.get("type") is None or alarm.get("type") == args["type"],
            args.get("alarm_id") is None or alarm.get("alarm_id") == args["alarm_id"],
        ))

    chosen = [a for a in active if selected(a)]
    waiting = [a for a in chosen if not a.get("acknowledged")]
    if waiting:
        return [a["seq"] for a in waiting if a.get("seq") is not None]
    if chosen:
        a = chosen[0]
        raise CommandRejected("no_such_alarm", f"alarm {a.get('seq')} ({a.get('type')}) is already "
                              f"acknowledged by {a.get('acknowledged_by') or 'someone'}")
    seq = args.get("seq")
    if seq is not None:
        record = record_at(seq) if record_at is not None else None
        if record is not None and not is_alarm(record.type):
            raise CommandRejected("no_such_alarm", f"seq {seq} is {record.type}, not an alarm")
        if record is not None:
            raise CommandRejected("no_such_alarm", f"alarm {seq} ({record.type}) is no longer active "
                                  "(acknowledged or cleared)")
        raise CommandRejected("no_such_alarm", f"no active alarm {seq}")
    what = (f"of type {args['type']}" if args.get("type") else
            f"with id {args['alarm_id']}" if args.get("alarm_id") else "at all")
    raise CommandRejected("no_such_alarm", f"no active alarm {what}")


def validate_passes(cmd: dict[str, Any], tz: tzinfo = timezone.utc) -> tuple[list[Pass], list[str]]:
    """Validate every entry of a `passes` command; InputError names the first bad entry and field."""
    upsert, revoke = cmd.get("upsert", []), cmd.get("revoke", [])
    for name, value in (("upsert", upsert), ("revoke", revoke)):
        if not isinstance(value, list):
            raise InputError(f"{name}: must be a list, got {type(value).__name__}")
        if len(value) > MAX_PASS_ENTRIES:
            raise InputError(f"{name}: at most {MAX_PASS_ENTRIES} entries per command, got {len(value)}")
    if not upsert and not revoke:
        raise InputError("passes: give a non-empty 'upsert' and/or 'revoke' list")
    passes: list[Pass] = []
    where_card: dict[str, str] = {}
    for i, entry in enumerate(upsert):
        where = f"upsert[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: must be an object with card and name")
        unknown = sorted(set(entry) - set(_UPSERT_FIELDS))
        if unknown:
            raise InputError(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(_UPSERT_FIELDS)})")
        for key in ("card", "name"):
            if not isinstance(entry.get(key), str):
                raise InputError(f"{where}.{key}: required, must be a string")
        for key in ("household", "valid_from", "valid_until", "pass_type"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise InputError(f"{where}.{key}: must be a string, got {entry[key]!r}")
        try:
            normalize_uid(entry["card"])
        except InputError as exc:
            raise InputError(f"{where}.card: {exc}") from None
        p = make_pass(entry["card"], entry["name"], entry.get("household"), entry.get("valid_from"),
                      entry.get("valid_until"), entry.get("pass_type") or "resident", where=f"{where}.", tz=tz)
        if p.card in where_card:
            raise InputError(f"{where}.card: {p.card} already given at {where_card[p.card]}")
        where_card[p.card] = where
        passes.append(p)
    cards: list[str] = []
    for i, raw in enumerate(revoke):
        try:
            card = normalize_uid(raw)
        except InputError as exc:
            raise InputError(f"revoke[{i}]: {exc}") from None
        if card in where_card:
            raise InputError(f"revoke[{i}]: {card} is also given at {where_card[card]}")
        where_card[card] = f"revoke[{i}]"
        cards.append(card)
    return passes, cards


def passes_handler(store: PassStore, tz: tzinfo = timezone.utc,
                   registry_held: Callable[[], dict] | None = None) -> Handler:
    """`passes`: `upsert` list of {card, name, household?, valid_from?, valid_until?} and `revoke` list of
    cards. Everything is validated before anything is written; upserts go in one transaction.
    `registry_held()` (the compound registry's status fields): a gate holding a registry version refuses
    with reason `compound_managed`, since the next version would silently undo the change."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        held = registry_held() if registry_held is not None else {}
        if held:
            raise CommandRejected("compound_managed", f"this gate takes its passes from compound "
                                  f"{held.get('registry_compound')!r} (registry version {held.get('registry_version')}); "
                                  "use gatectl station passes add|revoke|import --compound at the station")
        passes, cards = validate_passes(cmd, tz)
        upserted = store.upsert_many(passes) if passes else 0
        unknown = [c for c in cards if not store.revoke(c)]
        return {"upserted": upserted, "revoked": len(cards) - len(unknown), "unknown": unknown}

    return handle
