"""HMAC-SHA256 signatures of station commands (interface §5), shared by gate and station."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any


_LOWER_HEX = frozenset("0123456789abcdef")


def canonical_bytes(obj: dict[str, Any]) -> bytes:
    """The signed message: the object without `sig`, as canonical JSON in UTF-8."""
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(obj: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Return a copy of `obj` with its `sig` field set."""
    signed = {k: v for k, v in obj.items() if k != "sig"}
    signed["sig"] = hmac.new(key, canonical_bytes(signed), hashlib.sha256).hexdigest()
    return signed


def verify(obj: dict[str, Any], key: bytes) -> bool:
    """True when `obj["sig"]` is the right signature; constant-time comparison."""
    sig = obj.get("sig")
    # Only 64 lowercase hex digits can match; anything else (non-ASCII too, which compare_digest
    # refuses with TypeError) is a bad signature without computing anything.
    if not isinstance(sig, str) or len(sig) != 64 or not _LOWER_HEX.issuperset(sig):
        return False
    expected = hmac.new(key, canonical_bytes(obj), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii"))


def load_secret(path: str | Path) -> bytes:
    """The key bytes of a secret file, surrounding whitespace stripped. Raises OSError/ValueError naming the file."""
    data = Path(path).read_bytes().strip()
    if not data:
        raise ValueError(f"{path}: secret file is empty")
    return data


def write_secret(path: str | Path, *, replace: bool = False) -> None:
    """Write a new random 256-bit key (hex) to `path`, created 0600 so it is never readable by others,
    not even for a moment. FileExistsError when it exists and `replace` is false."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)  # an existing file being replaced keeps its old mode otherwise


# --- gate -> station authentication --------------------------------------------------------------
# Records, status messages and command results carry `mac`: HMAC-SHA256 under a key derived from the
# gate's command secret with a label per message class. The derivation separates the domains: a
# record MAC can never pass as a command `sig` (other key), as a status or result MAC (other label),
# and vice versa. `historical` is left out of a record's MAC because it changes when the gate
# republishes the same record later (backlog or replay); everything else is covered.
RECORD, STATUS, RESULT = "record", "status", "result"
_LABELS = {RECORD: b"gate-record-v1", STATUS: b"gate-status-v1", RESULT: b"gate-result-v1"}
_UNMACED = {RECORD: ("mac", "historical"), STATUS: ("mac",), RESULT: ("mac",)}


def message_key(secret: bytes, purpose: str = RECORD) -> bytes:
    """The MAC key of one message class (`RECORD`, `STATUS`, `RESULT`) derived from a gate's secret."""
    return hmac.new(secret, _LABELS[purpose], hashlib.sha256).digest()


def mac_bytes(obj: dict[str, Any], purpose: str = RECORD) -> bytes:
    """The MACed message: `obj` without `mac` (and, for records, `historical`) as canonical JSON."""
    body = {k: v for k, v in obj.items() if k not in _UNMACED[purpose]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal(obj: dict[str, Any], secret: bytes, purpose: str = RECORD) -> dict[str, Any]:
    """A copy of `obj` with `mac` set (lowercase hex HMAC-SHA256 by the `purpose` key of `secret`)."""
    sealed = {k: v for k, v in obj.items() if k != "mac"}
    sealed["mac"] = hmac.new(message_key(secret, purpose), mac_bytes(sealed, purpose), hashlib.sha256).hexdigest()
    return sealed


def check_seal(obj: dict[str, Any], secret: bytes, purpose: str = RECORD) -> bool:
    """True when `obj["mac"]` is right for `secret` and `purpose`; constant-time comparison. False for
    a missing or non-hex `mac` and for text that cannot be encoded (a lone surrogate)."""
    mac = obj.get("mac")
    if not isinstance(mac, str) or len(mac) != 64 or not mac.isascii():
        return False
    try:
        message = mac_bytes(obj, purpose)
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    expected = hmac.new(message_key(secret, purpose), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, mac)


def sign_record(record: dict[str, Any], secret: bytes) -> dict[str, Any]:
    """A journal record as published, with its `mac` (see `seal`)."""
    return seal(record, secret, RECORD)


def verify_record(record: dict[str, Any], secret: bytes) -> bool:
    """True when a received record's `mac` was made with `secret` (its `historical` flag may differ)."""
    return check_seal(record, secret, RECORD)
