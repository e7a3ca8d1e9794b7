"""Cloned-card defence: the pure credential functions, then issuing and checking through the reader."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from drivers import mifare
from drivers.mfrc522_emu import EmulatedCard, Mfrc522Emulator
from drivers.pi_fakes import fake_gpio, simulated_spi
from drivers.rfid_poller import RfidPoller
from gate.core import credentials as cr

SITE = bytes(range(32))
UID4 = bytes.fromhex("DEADBEEF")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
UNTIL = datetime(2027, 6, 30, 23, 59, tzinfo=timezone.utc)


def test_diversified_key_is_per_card_per_site_and_stable():
    k = cr.diversified_key(SITE, UID4)
    assert len(k) == 6 and k == cr.diversified_key(SITE, UID4)
    assert k != cr.diversified_key(SITE, UID7)
    assert k != cr.diversified_key(bytes(32), UID4)
    assert k != mifare.TRANSPORT_KEY


def test_credential_block_layout_and_verification():
    block = cr.credential_block(SITE, UID4, "pass-17", UNTIL)
    assert len(block) == 16 and block[0] == cr.BLOCK_VERSION
    assert int.from_bytes(block[1:5], "big") == int(UNTIL.timestamp())
    assert cr.verify_credential(SITE, UID4, "pass-17", UNTIL, block)
    assert cr.credential_block(SITE, UID4, "pass-17", None)[1:5] == b"\xff" * 4


@pytest.mark.parametrize("change", ["uid", "pass", "expiry", "site", "bitflip", "none", "short"])
def test_any_change_fails_verification(change):
    block = cr.credential_block(SITE, UID4, "pass-17", UNTIL)
    args = dict(site_key=SITE, uid=UID4, pass_id="pass-17", valid_until=UNTIL, block=block)
    if change == "uid":
        args["uid"] = bytes.fromhex("DEADBEEE")           # block copied onto another card
    elif change == "pass":
        args["pass_id"] = "pass-18"
    elif change == "expiry":
        args["valid_until"] = datetime(2028, 6, 30, tzinfo=timezone.utc)
    elif change == "site":
        args["site_key"] = bytes(32)
    elif change == "bitflip":
        args["block"] = block[:-1] + bytes((block[-1] ^ 1,))
    elif change == "none":
        args["block"] = None
    else:
        args["block"] = block[:8]
    assert cr.verify_credential(**args) is False


def test_naive_times_are_utc_and_bad_inputs_are_named():
    naive = datetime(2027, 6, 30, 23, 59)
    assert cr.credential_block(SITE, UID4, "p", naive) == cr.credential_block(SITE, UID4, "p", UNTIL)
    with pytest.raises(ValueError, match="site key"):
        cr.diversified_key(b"short", UID4)
    with pytest.raises(ValueError, match="uid"):
        cr.credential_block(SITE, b"\x01\x02", "p", None)
    with pytest.raises(ValueError, match="pass id"):
        cr.credential_block(SITE, UID4, "", None)


def test_sector_trailer_has_valid_access_bits_and_the_diversified_key():
    trailer = cr.sector_trailer(SITE, UID7)
    assert mifare.access_bits_valid(trailer[6:9])
    assert trailer[:6] == trailer[10:] == cr.diversified_key(SITE, UID7)
    assert [b for b, _ in cr.issue_writes(SITE, UID7, "p", None)] == [cr.CREDENTIAL_BLOCK,
                                                                    cr.TRAILER_BLOCK]


@pytest.fixture
def reader():
    emu = Mfrc522Emulator()
    with simulated_spi(emu):
        fake_gpio().mode = None
        from drivers.rfid import RfidReader
        with RfidReader() as r:
            r.emu = emu
            yield r


def issue(reader, uid, pass_id="pass-17", until=UNTIL):
    keys = [cr.diversified_key(SITE, uid), cr.TRANSPORT_KEY]
    return reader.provision(uid, cr.issue_writes(SITE, uid, pass_id, until), keys)


def tap_of(reader, card):
    taps = []
    p = RfidPoller(reader, on_tap=taps.append, on_fault=print, on_recovered=print,
                   credential_key_for=lambda uid: (cr.CREDENTIAL_BLOCK,
                                                   cr.diversified_key(SITE, uid)))
    reader.emu.present(card)
    for _ in range(6):
        p.poll_once()
    reader.emu.remove()
    assert len(taps) == 1
    return taps[0]


@pytest.mark.parametrize("uid", [UID4, UID7])
def test_issued_card_verifies_and_its_sector_is_locked(reader, uid):
    card = EmulatedCard(uid)
    reader.emu.present(card)
    assert issue(reader, uid) == cr.TRANSPORT_KEY          # a blank card
    assert issue(reader, uid) == cr.diversified_key(SITE, uid)   # re-issue: already locked
    from drivers.rfid import CardAuthError
    with pytest.raises(CardAuthError):
        reader.read_block(uid, cr.CREDENTIAL_BLOCK, cr.TRANSPORT_KEY)
    reader.emu.remove()
    tap = tap_of(reader, card)
    assert cr.verify_credential(SITE, uid, "pass-17", UNTIL, tap.credential) and not tap.magic


def test_clones_fail_the_check(reader):
    card = EmulatedCard(UID4)
    reader.emu.present(card)
    issue(reader, UID4)
    reader.emu.remove()
    # UID-only clone (the common attack): no credential can be read
    assert tap_of(reader, card.clone()).credential is None
    # a credential lifted from one card and written onto another card fails the MAC
    # (even granting the attacker that card's sector key)
    other_uid = bytes.fromhex("01020304")
    other = EmulatedCard(other_uid, blocks={4: card.block(4)},
                         sector_keys={1: cr.diversified_key(SITE, other_uid)})
    tap = tap_of(reader, other)
    assert tap.credential == card.block(4)
    assert not cr.verify_credential(SITE, other.uid, "pass-17", UNTIL, tap.credential)
    # a full copy onto a Gen1a magic card passes the MAC but answers the backdoor
    full = card.clone(magic_gen1a=True, copy_blocks=True)
    tap = tap_of(reader, full)
    assert tap.magic is True
    assert cr.verify_credential(SITE, UID4, "pass-17", UNTIL, tap.credential)  # documented limit
