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
