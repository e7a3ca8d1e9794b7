"""Cloned-card defence: a MAC'd credential block in a sector locked by a per-card key. Pure.

A pass's card carries, in `CREDENTIAL_BLOCK`, 16 bytes:

    0      version (1)
    1..4   valid_until as big-endian Unix seconds, 0xFFFFFFFF = no expiry
    5..15  HMAC-SHA256(mac key, "gate-credential-v1" | uid | pass id | valid_until)[:11]

The sector holding it is locked with `diversified_key(site_key, uid)`: reading the block needs that
key, which differs per card, so one cracked card does not open the others. Both keys derive from the
site key with distinct labels (HMAC-SHA256 as a KDF); the site key never leaves the gate.

What it does and does not stop is documented in docs/rfid.md: it defeats UID-only clones and
copying the block onto another UID; it does not defeat a full copy of a card whose Crypto-1 keys
were cracked onto a magic card that fakes the UID (MIFARE Classic is broken; DESFire EV2/EV3 is the
upgrade path).
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import datetime, timezone

CREDENTIAL_SECTOR = 1
CREDENTIAL_BLOCK = 4                         # first data block of sector 1
TRAILER_BLOCK = 7                            # sector 1 trailer: keys and access bits
TRANSPORT_KEY = b"\xff" * 6                  # the key of a blank card
MIN_SITE_KEY_BYTES = 16
BLOCK_VERSION = 1
_MAC_BYTES = 11
_NO_EXPIRY = 0xFFFFFFFF
# Key A = key B = the diversified key; access bits FF 07 80 (key A reads/writes data and trailer).
_ACCESS = bytes((0xFF, 0x07, 0x80, 0x69))


def _check(site_key: bytes, uid: bytes) -> None:
    if not isinstance(site_key, (bytes, bytearray)) or len(site_key) < MIN_SITE_KEY_BYTES:
        raise ValueError(f"site key: must be at least {MIN_SITE_KEY_BYTES} bytes")
    if len(uid) not in (4, 7, 10):
        raise ValueError(f"uid: must be 4, 7 or 10 bytes, got {len(uid)}")


def _derive(site_key: bytes, label: bytes, uid: bytes = b"") -> bytes:
    return hmac.new(bytes(site_key), label + bytes((len(uid),)) + bytes(uid),
                    hashlib.sha256).digest()


def diversified_key(site_key: bytes, uid: bytes) -> bytes:
    """The 6-byte MIFARE key of the credential sector of card `uid`."""
    _check(site_key, uid)
    return _derive(site_key, b"gate-sector-key-v1", uid)[:6]


def _expiry_seconds(valid_until: datetime | None) -> int:
    if valid_until is None:
        return _NO_EXPIRY
    if valid_until.tzinfo is None:           # the pass store's naive times are UTC
        valid_until = valid_until.replace(tzinfo=timezone.utc)
    seconds = int(valid_until.timestamp())
    if not 0 <= seconds < _NO_EXPIRY:
        raise ValueError(f"valid_until: {valid_until.isoformat()} is outside 1970..2106")
    return seconds


def _mac(site_key: bytes, uid: bytes, pass_id: str, expiry: int) -> bytes:
    mac_key = _derive(site_key, b"gate-credential-mac-key-v1")
    pid = pass_id.encode("utf-8")
    message = (b"gate-credential-v1" + bytes((len(uid),)) + bytes(uid)
               + struct.pack(">H", len(pid)) + pid + struct.pack(">I", expiry))
    return hmac.new(mac_key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def credential_block(site_key: bytes, uid: bytes, pass_id: str,
                     valid_until: datetime | None) -> bytes:
    """The 16-byte block to write into `CREDENTIAL_BLOCK` of card `uid` for pass `pass_id`."""
    _check(site_key, uid)
    if not pass_id:
        raise ValueError("pass id: must not be empty")
    expiry = _expiry_seconds(valid_until)
    return (bytes((BLOCK_VERSION,)) + struct.pack(">I", expiry)
            + _mac(site_key, bytes(uid), pass_id, expiry))


def verify_credential(site_key: bytes, uid: bytes, pass_id: str, valid_until: datetime | None,
                      block: bytes | None) -> bool:
    """True only if `block` is exactly what `credential_block` issues for these values."""
    if block is None or len(block) != 16:
        return False
    try:
        expected = credential_block(site_key, uid, pass_id, valid_until)
    except ValueError:
        return False
    return hmac.compare_digest(expected, bytes(block))


def sector_trailer(site_key: bytes, uid: bytes) -> bytes:
    """The trailer that locks the credential sector of card `uid` with its diversified key."""
    key = diversified_key(site_key, uid)
    return key + _ACCESS + key


def issue_writes(site_key: bytes, uid: bytes, pass_id: str,
                 valid_until: datetime | None) -> list[tuple[int, bytes]]:
    """(block, data) pairs to write, in order: the credential block, then the sector trailer.

    Authenticate with `diversified_key` (a card issued before) or `TRANSPORT_KEY` (a blank card);
    both writes use the key that authenticated the first, since the trailer write comes last.
    """
    return [(CREDENTIAL_BLOCK, credential_block(site_key, uid, pass_id, valid_until)),
            (TRAILER_BLOCK, sector_trailer(site_key, uid))]
