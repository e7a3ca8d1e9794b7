"""The cloned-card defence at the daemon: which key reads a card's credential block, whether the
block a tap carried is genuine, and writing ("issuing") the block onto a resident's card.

The pass id in the MAC is the card's UID (the pass store's key): a block copied onto another UID, or
an edited expiry, no longer verifies. The expiry checked is the one written on the card; the pass
store's validity decides access separately, so changing a pass's `valid_until` needs no re-issue.
`issue` refuses a Gen1a magic card (a clone blank carrying the resident's UID). See docs/rfid.md for what this does and does not stop.
"""
from __future__ import annotations

import struct
from datetime import datetime, timezone
from pathlib import Path

from gate.core import credentials as cr
from gate.core.errors import ConfigError, InputError
from gate.store.passes import PassStore
from gate.uplink.signing import load_secret


def _written_expiry(block: bytes) -> datetime | None:
    seconds = struct.unpack(">I", bytes(block[1:5]))[0]
    return None if seconds == 0xFFFFFFFF else datetime.fromtimestamp(seconds, timezone.utc)


class CredentialGuard:
    """Site-key holder. Thread-safe: it only reads the pass store (which has its own lock)."""

    def __init__(self, site_key: bytes, passes: PassStore):
        if len(site_key) < cr.MIN_SITE_KEY_BYTES:
            raise ConfigError([f"credentials.site_key_file: the key must be at least {cr.MIN_SITE_KEY_BYTES} "
                               f"bytes, got {len(site_key)}"])
        self.site_key = site_key
        self.passes = passes

    @classmethod
    def from_file(cls, path: Path, passes: PassStore) -> "CredentialGuard":
        try:
            return cls(load_secret(path), passes)
        except (OSError, ValueError) as exc:
            raise ConfigError([f"credentials.site_key_file: {exc}"]) from None

    def key_for(self, uid: bytes) -> tuple[int, bytes]:
        """For the poller: which block to read, with which (diversified) sector key."""
        return cr.CREDENTIAL_BLOCK, cr.diversified_key(self.site_key, uid)

    def check(self, uid: bytes, block: bytes | None) -> bool | None:
        """True/False for a registered card's block; None for an unknown card (refused anyway)."""
        card = uid.hex().upper()
        card_pass = self.passes.get(card)
        if card_pass is None:
            return None
        if block is None or len(block) != 16:
            return False
        # The MAC is checked against the expiry written on the card, not the store's: a station that
        # extends or shortens a pass must not turn every issued card into a "forged" one (audit F11).
        # Whether the pass is still valid is the store's word, judged by the access decision.
        return cr.verify_credential(self.site_key, uid, card, _written_expiry(block), block)

    def issue(self, reader, card: str) -> dict:
        """Write the credential block and the sector trailer onto the card now in the reader's field."""
        card_pass = self.passes.get(card)
        if card_pass is None or card_pass.revoked:
            raise InputError(f"issue: card {card} has no active pass; add it first with gatectl passes add")
        uid = bytes.fromhex(card)
        # A Gen1a "magic" card carrying the resident's UID is a clone blank: writing the genuine
        # credential onto it would make the copy indistinguishable from the card (audit F18).
        try:
            magic = reader.probe_magic(uid)
        except OSError as exc:
            raise InputError(f"issue: could not read card {card}: {exc} (hold the card on the reader)") from None
        if magic:
            raise InputError(f"issue: card {card} answers the Gen1a magic-card backdoor: a clone blank, not a "
                             "resident's card; refusing to write a credential onto it")
        writes = cr.issue_writes(self.site_key, uid, card, card_pass.valid_until)
        try:
            reader.provision(uid, writes, [cr.diversified_key(self.site_key, uid), cr.TRANSPORT_KEY])
        except OSError as exc:
            raise InputError(f"issue: could not write card {card}: {exc} (hold the card on the reader)") from None
        return {"card": card, "block": cr.CREDENTIAL_BLOCK}
