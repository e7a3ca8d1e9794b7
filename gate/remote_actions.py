"""Built-in station command actions besides replay: `unlock`, `lockdown`, `passes`.

Each handler takes the verified command object and returns a result dict (merged into the
`cmd/result` answer) or raises InputError naming the offending argument.
"""
from __future__ import annotations

from typing import Any, Callable

from .clock import Clock
from .errors import InputError
from .events import RemoteCommand
from .passes import Pass, PassStore, make_pass
from .uid import normalize_uid

MAX_UNLOCK_SECONDS = 600
MAX_PASS_ENTRIES = 10_000
_UPSERT_FIELDS = ("card", "name", "household", "valid_from", "valid_until", "pass_type")

Handler = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def unlock_handler(post: Callable[[object], None], clock: Clock) -> Handler:
    """`unlock` with optional `seconds` (1..600): posts RemoteCommand('unlock') to the daemon."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        seconds = cmd.get("seconds")
        args: dict[str, Any] = {}
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds <= MAX_UNLOCK_SECONDS:
                raise InputError(f"seconds: must be a number between 1 and {MAX_UNLOCK_SECONDS}, got {seconds!r}")
            args["seconds"] = float(seconds)
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


def validate_passes(cmd: dict[str, Any]) -> tuple[list[Pass], list[str]]:
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
                      entry.get("valid_until"), entry.get("pass_type") or "resident", where=f"{where}.")
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


def passes_handler(store: PassStore) -> Handler:
    """`passes`: `upsert` list of {card, name, household?, valid_from?, valid_until?} and `revoke` list of
    cards. Everything is validated before anything is written; upserts go in one transaction."""

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        passes, cards = validate_passes(cmd)
        upserted = store.upsert_many(passes) if passes else 0
        unknown = [c for c in cards if not store.revoke(c)]
        return {"upserted": upserted, "revoked": len(cards) - len(unknown), "unknown": unknown}

    return handle
