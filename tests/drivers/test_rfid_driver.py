"""RfidReader (our fixed MFRC522 driver) against the emulator, every fault injected."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from drivers import mifare
from drivers.errors import DeviceConfigError, DeviceFault
from drivers.mfrc522_emu import EmulatedCard
from drivers.pi_fakes import fake_gpio

UID4 = bytes.fromhex("DEADBEEF")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
KEY = bytes.fromhex("A0A1A2A3A4A5")


def test_module_imports_without_fakes_on_x86():
    # mfrc522 imports RPi.GPIO at import time; our module must not touch it until a reader is built
    code = "import drivers.rfid, drivers.rfid_poller, sys; assert 'mfrc522' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reader_is_an_mfrc522_and_configures_the_chip(reader, emu):
    import mfrc522
    assert isinstance(reader, mfrc522.MFRC522)
    assert reader.chip_version == 0x92 and reader.version() == 0x92
    assert emu.resets >= 1                            # built with an RST pulse
    assert fake_gpio().outputs[25][-2:] == [0, 1]
    assert fake_gpio().mode == fake_gpio().BCM


def test_idle_poll_costs_at_most_20_transfers(reader, emu):
    before = emu.transfers
    assert reader.read_uid() is None
    assert emu.transfers - before <= 20


def test_reads_4_byte_uid_without_bcc_and_halts_the_card(reader, emu):
    card = EmulatedCard(UID4)
    emu.present(card)
    assert reader.read_uid() == UID4
    assert card.state == "HALT"
    # consecutive polls agree (the stock library alternates hit/miss)
    assert [reader.read_uid() for _ in range(3)] == [UID4] * 3


def test_reads_7_byte_uid_through_cascade_level_2(reader, emu):
    emu.present(EmulatedCard(UID7))
    assert reader.read_uid() == UID7


@pytest.mark.parametrize("fault", ["crc", "parity", "garble"])
def test_corrupted_answers_never_yield_a_uid(reader, emu, fault):
    from drivers.rfid import CardReadError
    emu.present(EmulatedCard(UID4))
    emu.inject(fault, count=2 if fault == "crc" else 1)   # crc: BCC of anticoll, then the SAK
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(reader.read_uid())
        except CardReadError as exc:
            outcomes.append(type(exc).__name__)
    assert "CardReadError" in outcomes
    assert all(o in (UID4, "CardReadError") for o in outcomes)   # never a wrong UID
    assert outcomes[-1] == UID4


def test_two_cards_in_the_field_is_a_collision_not_a_uid(reader, emu):
    from drivers.rfid import CardReadError
    emu.present(EmulatedCard(UID4), EmulatedCard(bytes.fromhex("DEADBEEE")))
    with pytest.raises(CardReadError, match="collision"):
        reader.read_uid()


def test_card_leaving_mid_read(reader, emu):
    from drivers.rfid import CardReadError
    emu.present(EmulatedCard(UID4))
    emu.leave_after(2)                                    # answers WUPA and anticollision only
    with pytest.raises(CardReadError, match="stopped answering"):
        reader.read_uid()
    assert reader.read_uid() is None


@pytest.mark.parametrize("level", [0x00, 0xFF])
def test_chip_gone_from_the_bus_is_a_device_fault(reader, emu, level):
    emu.set_absent(level)
    with pytest.raises(DeviceFault, match=f"0x{level:02X}"):
        reader.read_uid()
    emu.set_absent(None)
    assert reader.hard_reset() == 0x92 and reader.read_uid() is None


def test_spontaneous_chip_reset_is_detected_and_soft_reset_recovers(reader, emu):
    emu.present(EmulatedCard(UID4))
    emu.chip_reset()                                      # timer and antenna settings are lost
    with pytest.raises(DeviceFault, match="no interrupt"):
        reader.read_uid()
    reader.soft_reset()
    assert reader.read_uid() == UID4


def test_check_reinitialises_a_chip_that_lost_its_settings(reader, emu, caplog):
    emu.present(EmulatedCard(UID4))
    emu.xfer2([(0x14 << 1) & 0x7E, 0x80])                 # antenna switched off behind our back
    assert reader.read_uid() is None                      # silent failure mode of field readers
    with caplog.at_level(logging.WARNING, logger="drivers.rfid"):
        assert reader.check() == 0x92
    assert "lost its settings" in caplog.text
    assert reader.read_uid() == UID4


def test_clone_chip_version_accepted_with_a_warning(emu, caplog):
    from drivers.rfid import RfidReader
    emu.version = 0x88
    with caplog.at_level(logging.WARNING, logger="drivers.rfid"):
        with RfidReader() as r:
            assert r.chip_version == 0x88
    assert "0x88" in caplog.text and "not a genuine" in caplog.text


def test_constructor_fails_cleanly_when_no_chip_answers(emu):
    from drivers.rfid import RfidReader
    emu.set_absent(0x00)
    with pytest.raises(DeviceFault, match="VersionReg reads 0x00"):
        RfidReader()
    assert 25 not in fake_gpio().pin_modes               # the RST pin was released


def test_constructor_fails_when_spi_device_missing(emu):
    from drivers.rfid import RfidReader
    with pytest.raises(DeviceFault, match="spidev0.1"):
        RfidReader(bus=0, device=1)


def test_no_log_handlers_added_and_close_is_idempotent(emu):
    from drivers.rfid import RfidReader
    lib_logger, ours = logging.getLogger("mfrc522Logger"), logging.getLogger("drivers.rfid")
    before = (len(lib_logger.handlers), len(ours.handlers))
    readers = [RfidReader() for _ in range(3)]
    assert (len(lib_logger.handlers), len(ours.handlers)) == before
    for r in readers:
        r.close()
        r.close()
        assert r.closed
    with pytest.raises(DeviceFault, match="closed"):
        readers[0].read_uid()


def test_read_write_block_and_wrong_key(reader, emu):
    from drivers.rfid import CardAuthError
    card = EmulatedCard(UID7, sector_keys={1: KEY})
    emu.present(card)
    data = bytes(range(16))
    reader.write_block(UID7, 5, KEY, data)
    assert card.block(5) == data and reader.read_block(UID7, 5, KEY) == data
    with pytest.raises(CardAuthError):
        reader.read_block(UID7, 5, mifare.TRANSPORT_KEY)
    assert reader.read_uid() == UID7                      # the card is still usable afterwards


def test_block_writes_that_would_damage_the_card_are_refused(reader, emu):
    emu.present(EmulatedCard(UID4))
    with pytest.raises(DeviceConfigError, match="block 0"):
        reader.write_block(UID4, 0, mifare.TRANSPORT_KEY, bytes(16))
    with pytest.raises(DeviceConfigError, match="access bits"):
        reader.write_block(UID4, 7, mifare.TRANSPORT_KEY, KEY + bytes(4) + KEY)


def test_provision_uses_the_first_key_the_card_accepts(reader, emu):
    card = EmulatedCard(UID4)
    emu.present(card)
    writes = [(4, b"x" * 16), (7, mifare.sector_trailer(KEY))]
    assert reader.provision(UID4, writes, [KEY, mifare.TRANSPORT_KEY]) == mifare.TRANSPORT_KEY
    assert reader.provision(UID4, [(4, b"y" * 16)], [KEY, mifare.TRANSPORT_KEY]) == KEY
    assert reader.read_block(UID4, 4, KEY) == b"y" * 16


def test_read_block_of_a_card_not_in_the_field(reader, emu):
    from drivers.rfid import CardReadError
    emu.present(EmulatedCard(UID4))
    with pytest.raises(CardReadError, match="not 01020304"):
        reader.read_block(bytes.fromhex("01020304"), 4, mifare.TRANSPORT_KEY)


def test_probe_magic(reader, emu):
    emu.present(EmulatedCard(UID4))
    assert reader.probe_magic() is False
    emu.remove()
    assert reader.probe_magic() is False
    magic = EmulatedCard(UID4, magic_gen1a=True)
    emu.present(magic)
    assert reader.probe_magic(UID4) is True
    assert reader.read_uid() == UID4                      # left in a state that reads normally


def test_library_methods_run_on_the_fixed_wait_loop(reader, emu):
    emu.present(EmulatedCard(UID4))
    before = emu.transfers
    status, bits = reader.MFRC522_Request(reader.PICC_REQIDL)
    assert status == reader.MI_OK and bits == 16
    status, part = reader.MFRC522_Anticoll()
    assert status == reader.MI_OK and bytes(part[:4]) == UID4
    assert emu.transfers - before < 40
    emu.remove()
    assert reader.MFRC522_Request(reader.PICC_REQIDL)[0] != reader.MI_OK
