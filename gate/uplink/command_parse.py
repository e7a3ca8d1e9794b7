"""Bounded parsing of raw `P/G/cmd` payloads: the first thing that touches attacker-controlled bytes.

`parse_command(payload)` returns the command object or raises CommandRejected("malformed", ...).
In this order, each step cheaper than the next and none recursive in Python:
1. size: more than MAX_PAYLOAD_BYTES is refused before a byte is decoded;
2. depth: a scan of the bracket structure (strings removed by one regex, the rest reduced to
   brackets by `bytes.translate`) refuses nesting deeper than MAX_DEPTH, so `json.loads` never
   meets `[[[[...` (its C scanner raises RecursionError near Python's recursion limit);
3. UTF-8, then JSON with duplicate keys and NaN/Infinity refused: the signature covers the parsed
   object, so one command must have exactly one reading (a monitor keeping the first of two
   duplicate keys would show another command than the one executed), and the signed form must be JSON;
4. a JSON object whose strings are Unicode text (no escaped lone surrogate such as "\\ud800").

`safe_ids(obj)` gives the `cmd_id`/`action` that may be echoed for a command nobody authenticated:
short, of a plain charset, else a hash (so attacker text never reaches a journal or a console).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from gate.uplink.rejection import MAX_ID_CHARS, MAX_PAYLOAD_BYTES, CommandRejected

MAX_DEPTH = 16  # a passes command is 3 deep ({"upsert": [{...}]}); nothing legitimate comes close

# A whole string, or an unterminated one up to the end: possessive, so it never backtracks and never
# fails (no retry at each later quote): linear in the payload.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# "\ud800".."\udfff" escapes: only then can a parsed string hold a lone surrogate (pairs too match:
# the exact check below runs only for payloads that have one).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:@/+-]{1,64}$")


def bracket_problem(payload: bytes, limit: int = MAX_DEPTH) -> str:
    """Why the brackets outside strings are unacceptable ("" when they are fine): nested deeper than
    `limit`, or not balanced (then it is no JSON anyway, and json.loads is spared the nesting).
    Each round removes the innermost pairs: a balanced structure of depth d is gone after d rounds.
    Work: at most `limit` C-level passes over the bracket bytes."""
    skeleton = _STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return ""
        reduced = skeleton.replace(b"[]", b"").replace(b"{}", b"")
        if len(reduced) == len(skeleton):
            return "brackets do not balance"
        skeleton = reduced
    return f"nested deeper than {limit} levels" if skeleton else ""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _v in pairs if k in seen or seen.add(k))
        raise CommandRejected("malformed", f"duplicate key {_short(dup)!r}")
    return obj


def _no_constant(name: str) -> Any:
    raise CommandRejected("malformed", f"{name} is not JSON")


def _short(text: str) -> str:
    return text[:MAX_ID_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def parse_command(payload: bytes) -> dict[str, Any]:
    """The command object of a raw payload, or CommandRejected('malformed') saying why not."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRejected("malformed", f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    problem = bracket_problem(payload)
    if problem:
        raise CommandRejected("malformed", f"not JSON: {problem}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandRejected("malformed", f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except CommandRejected:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces behind the depth scan
        raise CommandRejected("malformed", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CommandRejected("malformed", "command must be a JSON object")
    if _SURROGATE_ESCAPE.search(payload) and _has_lone_surrogate(obj):
        # The raw ids ride along: only their safe form (safe_id) is ever echoed.
        raise CommandRejected("malformed", "a string holds a lone surrogate escape (e.g. \\ud800): not UTF-8 text",
                              cmd_id=obj["cmd_id"] if isinstance(obj.get("cmd_id"), str) else "",
                              action=obj["action"] if isinstance(obj.get("action"), str) else "")
    return obj


def safe_id(value: Any) -> str:
    """`value` when it is a short id of plain characters; else "sha256:" + 16 hex digits of it; "" if absent."""
    if not isinstance(value, str) or not value:
        return ""
    if _PLAIN_ID.match(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def safe_ids(obj: Any) -> tuple[str, str]:
    """(cmd_id, action) of an unauthenticated command, fit to echo (see `safe_id`)."""
    if not isinstance(obj, dict):
        return "", ""
    return safe_id(obj.get("cmd_id")), safe_id(obj.get("action"))
