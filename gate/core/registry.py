"""The wire format of a compound's pass registry (docs/registry.md), shared by station and gate.

A registry version is a list of rows, one per pass, sorted by card:
`[card, name, household, pass_type, valid_from, valid_until, revoked]` (strings or null; `revoked` a
bool; times as `format_ts` writes them). Its content hash is sha256 over each row's canonical JSON
followed by a newline, in card order, so a gate can hash the rows as it reads them.

On the broker a version is published retained, per gate: the rows in chunks of at most CHUNK_ROWS on
`P/G/registry/<version>/<i>` (a JSON list of rows), then a signed manifest on `P/G/registry`:
`{compound, gate, version, hash, count, chunks: [sha256 of each chunk's bytes], issued_at, sig}`.
`sig` is HMAC-SHA256 (interface §5 canonical JSON) under a key derived from the gate's command secret
with the label `station-registry-v1`: a manifest can never pass as a command, nor a command as a manifest.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, Iterable, Sequence

from gate.core.errors import InputError
from gate.core.passes import Pass
from gate.core.timefmt import format_ts

CHUNK_ROWS = 2000          # ~200 kB per chunk: well under the gate session's maximum packet size
MAX_ROWS = 500_000         # a manifest promising more is refused before anything is buffered
MAX_CHUNK_BYTES = 1024 * 1024
_LABEL = b"station-registry-v1"
_CARD = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")
Row = list  # [card, name, household, pass_type, valid_from, valid_until, revoked]


def pass_row(p: Pass, revoked: bool | None = None) -> Row:
    return [p.card, p.name, p.household, p.pass_type,
            format_ts(p.valid_from) if p.valid_from else None,
            format_ts(p.valid_until) if p.valid_until else None,
            bool(p.revoked if revoked is None else revoked)]


def row_bytes(row: Sequence[Any]) -> bytes:
    return json.dumps(list(row), separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


class ContentHash:
    """The incremental content hash of rows fed in card order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.count = 0

    def add(self, row: Sequence[Any]) -> None:
        self._h.update(row_bytes(row))
        self.count += 1

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def content_hash(rows: Iterable[Sequence[Any]]) -> str:
    h = ContentHash()
    for row in rows:
        h.add(row)
    return h.hexdigest()


def chunk_bodies(rows: Sequence[Row], size: int = CHUNK_ROWS) -> list[bytes]:
    """The chunk payloads of a version (at least one, possibly `[]` for an empty registry)."""
    return [json.dumps(rows[i:i + size], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            for i in range(0, max(len(rows), 1), size)]


def manifest_topic(prefix: str, gate: str) -> str:
    return f"{prefix.rstrip('/')}/{gate}/registry"


def chunk_topic(prefix: str, gate: str, version: int, index: int) -> str:
    return f"{manifest_topic(prefix, gate)}/{version}/{index}"


def manifest_key(secret: bytes) -> bytes:
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


def manifest_bytes(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_manifest(obj: dict[str, Any], secret: bytes) -> dict[str, Any]:
    signed = {k: v for k, v in obj.items() if k != "sig"}
    signed["sig"] = hmac.new(manifest_key(secret), manifest_bytes(signed), hashlib.sha256).hexdigest()
    return signed


def manifest_signed(obj: dict[str, Any], secret: bytes) -> bool:
    sig = obj.get("sig")
    if not isinstance(sig, str) or len(sig) != 64:
        return False
    expected = hmac.new(manifest_key(secret), manifest_bytes(obj), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace"))


def build_manifest(compound: str, gate: str, version: int, digest: str, count: int,
                   bodies: Sequence[bytes], issued_at: str) -> dict[str, Any]:
    return {"compound": compound, "gate": gate, "version": version, "hash": digest, "count": count,
            "chunks": [hashlib.sha256(b).hexdigest() for b in bodies], "issued_at": issued_at}


def check_manifest(obj: Any, gate: str) -> dict[str, Any]:
    """The fields of a (signature-checked) manifest; InputError naming the bad field."""
    if not isinstance(obj, dict):
        raise InputError("manifest: must be a JSON object")
    version, digest, count, chunks = (obj.get(k) for k in ("version", "hash", "count", "chunks"))
    if obj.get("gate") != gate:
        raise InputError(f"gate: manifest is for {str(obj.get('gate'))[:64]!r}, not {gate!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"version: must be an integer >= 1, got {str(version)[:32]!r}")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InputError("hash: must be 64 lowercase hex digits")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ROWS:
        raise InputError(f"count: must be an integer 0..{MAX_ROWS}")
    if not isinstance(chunks, list) or len(chunks) != max(1, -(-count // CHUNK_ROWS)) or \
            not all(isinstance(c, str) and re.fullmatch(r"[0-9a-f]{64}", c) for c in chunks):
        raise InputError("chunks: must list one sha256 per chunk of CHUNK_ROWS rows")
    if not isinstance(obj.get("compound"), str):
        raise InputError("compound: must be a string")
    return obj


def parse_chunk(body: bytes, where: str) -> list[Row]:
    """The rows of one chunk, each checked for shape; InputError naming the chunk and row."""
    try:
        rows = json.loads(body)
    except (ValueError, RecursionError):
        raise InputError(f"{where}: not JSON") from None
    if not isinstance(rows, list):
        raise InputError(f"{where}: must be a list of rows")
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 7 and isinstance(row[0], str) and _CARD.match(row[0])
                and isinstance(row[1], str) and row[1] and isinstance(row[3], str) and isinstance(row[6], bool)
                and all(v is None or isinstance(v, str) for v in (row[2], row[4], row[5]))):
            raise InputError(f"{where} row {i}: not [card, name, household, pass_type, valid_from, "
                             "valid_until, revoked]")
    return rows
