"""Card UIDs: hex, 4 or 7 bytes (also 10, the ISO 14443 triple size), stored uppercase without separators."""
from __future__ import annotations

import re

from gate.core.errors import InputError

_SEPARATORS = re.compile(r"[:\-\s]")
_HEX = re.compile(r"^[0-9A-F]+$")
VALID_LENGTHS = (4, 7, 10)


def normalize_uid(text: str) -> str:
    """'de:ad:be:ef' → 'DEADBEEF'. Raises InputError naming the text when it is not a valid UID."""
    if not isinstance(text, str):
        raise InputError(f"card UID must be text, got {text!r}")
    cleaned = _SEPARATORS.sub("", text).upper()
    if not cleaned or not _HEX.match(cleaned):
        raise InputError(f"card UID {text!r}: must be hexadecimal (':' or '-' separators allowed)")
    if len(cleaned) % 2 or len(cleaned) // 2 not in VALID_LENGTHS:
        raise InputError(f"card UID {text!r}: must be 4 or 7 bytes, got {len(cleaned) / 2:g}")
    return cleaned
