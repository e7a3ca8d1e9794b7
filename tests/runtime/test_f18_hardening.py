"""Smaller hardening from the security review (F11, F17, F18): the credential MAC survives a validity
change, `issue` refuses a magic card, the control socket is made 0600 without touching the process
umask, the OSDP key file must be 0600."""
from __future__ import annotations

import os
import stat

import pytest

from drivers.errors import DeviceConfigError
from drivers.mfrc522_emu import EmulatedCard
from drivers.rfid_regs import CardAuthError
from firmware_bridge.osdp_panel import load_scbk
from gate.core.errors import InputError
from gate.core.passes import make_pass
from gate.runtime.credential_guard import CredentialGuard
from gate.runtime.simcontrol import ControlServer
from gate.store.passes import PassStore

SITE = bytes(range(32))
UID = bytes.fromhex("DEADBEEF")


@pytest.fixture
def guard(tmp_path):
    with PassStore(tmp_path / "registry.db") as store:
        store.upsert_many([make_pass("DEADBEEF", "Wang Li", "3-201", None, "2027-06-30")])
        yield CredentialGuard(SITE, store)


def read_block(emu, reader, guard, card):
    emu.present(card)
    try:
        block_no, key = guard.key_for(UID)
        return reader.read_block(UID, block_no, key)
    finally:
        emu.remove(card)


def test_an_issued_card_stays_genuine_when_the_station_changes_its_validity(emu, reader, guard):
    card = EmulatedCard(UID)
    emu.present(card)
    guard.issue(reader, "DEADBEEF")
    emu.remove(card)
    block = read_block(emu, reader, guard, card)
    assert guard.check(UID, block) is True
    guard.passes.upsert_many([make_pass("DEADBEEF", "Wang Li", "3-201", None, "2028-06-30")])  # extended a year
    assert guard.check(UID, block) is True  # was False: a forged_credential alarm on every tap
    forged = bytes([block[0]]) + (0xFFFFFFFF).to_bytes(4, "big") + block[5:]  # an edited expiry on the card
    assert guard.check(UID, forged) is False


def test_issue_refuses_a_gen1a_magic_card_carrying_the_uid(emu, reader, guard):
    magic = EmulatedCard(UID).clone(magic_gen1a=True)
    emu.present(magic)
    with pytest.raises(InputError, match="magic-card backdoor"):
        guard.issue(reader, "DEADBEEF")
    emu.remove(magic)
    with pytest.raises(CardAuthError):  # nothing was written: the sector still has the transport key
        read_block(emu, reader, guard, magic)


def test_the_control_socket_is_0600_and_the_umask_is_left_alone(tmp_path):
    before = os.umask(0o022)
    try:
        server = ControlServer(tmp_path, {}).start()
        try:
            assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
            assert os.umask(0o022) == 0o022  # nothing changed it meanwhile
        finally:
            server.close()
    finally:
        os.umask(before)


@pytest.mark.parametrize("mode", [0o640, 0o620, 0o604])
def test_an_osdp_key_file_others_can_use_is_refused(tmp_path, mode):
    p = tmp_path / "osdp.scbk"
    p.write_text(bytes(range(1, 17)).hex())
    p.chmod(mode)
    with pytest.raises(DeviceConfigError, match="chmod 600"):
        load_scbk(p)
    p.chmod(0o600)
    assert load_scbk(p) == bytes(range(1, 17))
