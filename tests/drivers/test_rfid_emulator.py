"""The MFRC522 emulator at register level, and the unmodified mfrc522 library running against it."""
from __future__ import annotations

import importlib
import threading

import pytest

from drivers import mifare
from drivers.mfrc522_emu import EmulatedCard, Mfrc522Emulator
from drivers.pi_fakes import fake_gpio, install_fake_pi_modules, simulated_spi

W = lambda addr: (addr << 1) & 0x7E          # noqa: E731
R = lambda addr: ((addr << 1) & 0x7E) | 0x80  # noqa: E731


class Ticks:
    """A settable monotonic clock for the emulator's timer."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def read(emu, addr):
    return emu.xfer2([R(addr), 0])[1]


def write(emu, addr, *values):
    emu.xfer2([W(addr), *values])


def transceive(emu, frame, bits=0):
    """Drive a Transceive the way a driver does; returns (irq, error, fifo bytes, rx last bits)."""
    write(emu, 0x01, 0x00)
    write(emu, 0x04, 0x7F)
    write(emu, 0x0A, 0x80)
    write(emu, 0x09, *frame)
    write(emu, 0x01, 0x0C)
    write(emu, 0x0D, 0x80 | bits)
    irq, err = read(emu, 0x04), read(emu, 0x06)
    n = read(emu, 0x0A)
    data = bytes(emu.xfer2([R(0x09)] * n + [0])[1:]) if n else b""
    return irq, err, data, read(emu, 0x0C) & 7


@pytest.fixture
def emu():
    e = Mfrc522Emulator(clock=Ticks())
    write(e, 0x2A, 0x80)           # TAuto
    write(e, 0x2B, 169)            # 25 us ticks
    write(e, 0x2D, 199)            # 5 ms
    write(e, 0x14, 0x83)           # antenna on
    return e


def test_version_and_burst_read(emu):
    before = emu.transfers
    assert read(emu, 0x37) == 0x92
    # a burst read answers each address with the register named by the previous byte
    assert emu.xfer2([R(0x37), R(0x2B), R(0x2D), 0]) == [0, 0x92, 169, 199]
    assert emu.transfers - before == 2


def test_fifo_level_flush_and_calc_crc(emu):
    write(emu, 0x09, 0x50, 0x00)
    assert read(emu, 0x0A) == 2
    write(emu, 0x01, 0x03)                        # CalcCRC
    assert read(emu, 0x05) & 0x04                 # CRCIRq
    assert (read(emu, 0x22), read(emu, 0x21)) == (0x57, 0xCD)   # CRC_A of HALT is 57 CD
    write(emu, 0x09, 1, 2, 3)
    write(emu, 0x0A, 0x80)
    assert read(emu, 0x0A) == 0


def test_irq_register_set_and_clear_semantics(emu):
    write(emu, 0x04, 0x80 | 0x21)                 # Set1: set bits
    assert read(emu, 0x04) & 0x21 == 0x21
    write(emu, 0x04, 0x01)                        # Set1 = 0: clear the marked bits
    assert read(emu, 0x04) & 0x21 == 0x20
    assert read(emu, 0x04) & 0x80 == 0            # Set1 reads as 0


def test_timer_irq_fires_after_the_programmed_timeout():
    ticks = Ticks()
    e = Mfrc522Emulator(clock=ticks)
    write(e, 0x2A, 0x80), write(e, 0x2B, 169), write(e, 0x2D, 199), write(e, 0x14, 0x83)
    irq, _, data, _ = transceive(e, [mifare.WUPA], bits=7)
    assert data == b"" and not irq & 0x01        # nobody answered, the timer is still running
    ticks.now += 0.004
    assert not read(e, 0x04) & 0x01
    ticks.now += 0.002
    assert read(e, 0x04) & 0x01                   # 5 ms later: TimerIRq


def test_reqa_anticollision_select_halt_4_byte(emu):
    card = EmulatedCard(bytes.fromhex("DEADBEEF"))
    emu.present(card)
    irq, err, atqa, _ = transceive(emu, [mifare.REQA], bits=7)
    assert irq & 0x20 and err == 0 and atqa == bytes((0x04, 0x00))
    _, _, part, _ = transceive(emu, [0x93, 0x20])
    assert part == bytes.fromhex("DEADBEEF") + bytes((mifare.bcc(bytes.fromhex("DEADBEEF")),))
    frame = bytes((0x93, 0x70)) + part
    _, _, sak, _ = transceive(emu, frame + mifare.crc_a(frame))
    assert sak == bytes((0x08,)) + mifare.crc_a((0x08,)) and card.state == "ACTIVE"
    halt = bytes(mifare.HALT)
    _, _, answer, _ = transceive(emu, halt + mifare.crc_a(halt))
    assert answer == b"" and card.state == "HALT"
    assert transceive(emu, [mifare.REQA], bits=7)[2] == b""      # REQA does not wake HALT
    assert transceive(emu, [mifare.WUPA], bits=7)[2] == bytes((0x04, 0x00))


def test_cascade_level_2_for_7_byte_uid(emu):
    card = EmulatedCard(bytes.fromhex("04A1B2C3D4E5F6"))
    emu.present(card)
    assert transceive(emu, [mifare.WUPA], bits=7)[2] == bytes((0x44, 0x00))
    part1 = transceive(emu, [0x93, 0x20])[2]
    assert part1[:4] == bytes.fromhex("8804A1B2")
    frame = bytes((0x93, 0x70)) + part1
    sak1 = transceive(emu, frame + mifare.crc_a(frame))[2]
    assert sak1[0] & mifare.SAK_CASCADE_BIT and card.state == "READY"
    part2 = transceive(emu, [0x95, 0x20])[2]
    assert part2[:4] == bytes.fromhex("C3D4E5F6")
    frame = bytes((0x95, 0x70)) + part2
    sak2 = transceive(emu, frame + mifare.crc_a(frame))[2]
    assert not sak2[0] & mifare.SAK_CASCADE_BIT and card.state == "ACTIVE"


def test_two_cards_collide_in_anticollision(emu):
    emu.present(EmulatedCard(bytes.fromhex("11223344")), EmulatedCard(bytes.fromhex("11223345")))
    transceive(emu, [mifare.WUPA], bits=7)
    irq, err, _, _ = transceive(emu, [0x93, 0x20])
    assert err & 0x08 and irq & 0x02              # CollErr and ErrIRq
    assert read(emu, 0x0E) & 0x1F == 25           # first differing bit: byte 3, bit 0


def test_faults_corrupt_the_next_answer_only(emu):
    card = EmulatedCard(bytes.fromhex("DEADBEEF"))
    emu.present(card)
    emu.inject("parity")
    assert transceive(emu, [mifare.WUPA], bits=7)[1] & 0x02
    card.power_up()                               # back to IDLE: WUPA in READY is ignored
    emu.inject("crc")
    transceive(emu, [mifare.WUPA], bits=7)
    part = transceive(emu, [0x93, 0x20])[2]
    assert mifare.bcc(part[:4]) != part[4]        # the BCC-protected answer got the flipped bit
    card.power_up()
    emu.inject("garble")
    transceive(emu, [mifare.WUPA], bits=7)
    part = transceive(emu, [0x93, 0x20])[2]
    assert part[:4] != bytes.fromhex("DEADBEEF") and mifare.bcc(part[:4]) == part[4]
    with pytest.raises(ValueError, match="fault"):
        emu.inject("bogus")


def test_card_leaves_mid_read(emu):
    emu.present(EmulatedCard(bytes.fromhex("DEADBEEF")))
    emu.leave_after(1)
    assert transceive(emu, [mifare.WUPA], bits=7)[2] == bytes((0x04, 0x00))
    assert transceive(emu, [0x93, 0x20])[2] == b"" and emu.cards == ()


def test_absent_chip_reads_constant_and_reset_restores_defaults(emu):
    emu.set_absent(0xFF)
    assert emu.xfer2([R(0x37), 0]) == [0xFF, 0xFF]
    emu.set_absent(0x00)
    assert read(emu, 0x37) == 0x00
    emu.set_absent(None)
    emu.chip_reset()
    assert read(emu, 0x2A) == 0 and read(emu, 0x14) == 0x80      # timer and antenna settings lost
    write(emu, 0x14, 0x83)
    write(emu, 0x01, 0x0F)                                      # SoftReset
    assert read(emu, 0x14) == 0x80 and emu.resets == 1


def test_rst_pin_low_powers_down_and_rising_edge_resets(emu):
    emu.set_rst(False)
    assert read(emu, 0x37) == 0x00
    emu.set_rst(True)
    assert read(emu, 0x37) == 0x92 and read(emu, 0x14) == 0x80 and emu.resets == 1


def test_mifare_auth_read_write_and_gen1a_backdoor(emu):
    card = EmulatedCard(bytes.fromhex("DEADBEEF"), sector_keys={1: bytes(range(6))})
    emu.present(card)
    assert card.authenticate(mifare.AUTH_KEY_A, 4, bytes(range(6)), card.uid) is False  # not ACTIVE
    magic = EmulatedCard(bytes.fromhex("CAFEBABE"), magic_gen1a=True)
    emu.remove()
    emu.present(magic)
    irq, _, ack, bits = transceive(emu, [mifare.GEN1A_BACKDOOR_1], bits=7)
    assert ack == bytes((mifare.MIFARE_ACK,)) and bits == 4
    assert transceive(emu, [mifare.GEN1A_BACKDOOR_2])[2] == bytes((mifare.MIFARE_ACK,))
    frame = bytes((mifare.WRITE, 0))
    assert transceive(emu, frame + mifare.crc_a(frame))[2] == bytes((mifare.MIFARE_ACK,))
    new0 = bytes.fromhex("11223344") + bytes(12)
    transceive(emu, new0 + mifare.crc_a(new0))
    assert magic.block(0) == new0                 # magic cards rewrite their manufacturer block
    plain = EmulatedCard(bytes.fromhex("01020304"))
    emu.remove()
    emu.present(plain)
    assert transceive(emu, [mifare.GEN1A_BACKDOOR_1], bits=7)[2] == b""


def test_unmodified_library_runs_and_burns_2013_transfers_per_idle_poll():
    emu = Mfrc522Emulator()
    with simulated_spi(emu, rst_pin=None):
        fake_gpio().mode = None
        simple = importlib.import_module("mfrc522.SimpleMFRC522").SimpleMFRC522()
        before = emu.transfers
        assert simple.read_id_no_block() is None
        assert emu.transfers - before == 2013     # the fact the driver exists to fix
        emu.present(EmulatedCard(bytes.fromhex("DEADBEEF")))
        hits = [simple.read_id_no_block() for _ in range(4)]
        # the library never HALTs: polls alternate hit/miss; the id includes the BCC byte
        assert hits[0] == hits[2] == int("DEADBEEF", 16) * 256 + mifare.bcc(bytes.fromhex("DEADBEEF"))
        assert hits[1] is None and hits[3] is None
        simple.READER.Close_MFRC522()


def test_fakes_take_precedence_and_are_idempotent():
    emu = Mfrc522Emulator()
    with simulated_spi(emu):
        import sys
        gpio = install_fake_pi_modules()
        assert install_fake_pi_modules() is gpio and sys.modules["RPi.GPIO"] is gpio
        spidev = importlib.import_module("spidev")
        dev = spidev.SpiDev()
        dev.open(0, 0)
        assert dev.xfer2([R(0x37), 0]) == [0, 0x92]
        with pytest.raises(FileNotFoundError, match="spidev0.1"):
            spidev.SpiDev().open(0, 1)


def test_control_thread_and_poll_thread_share_the_emulator(emu):
    card = EmulatedCard(bytes.fromhex("DEADBEEF"))
    stop = threading.Event()
    results: set[bytes] = set()

    def flapper():
        while not stop.is_set():
            emu.present(card)
            emu.remove()

    t = threading.Thread(target=flapper)
    t.start()
    try:
        for _ in range(300):
            transceive(emu, [mifare.WUPA], bits=7)
            results.add(transceive(emu, [0x93, 0x20])[2])
    finally:
        stop.set()
        t.join()
    # every anticollision answer is either silence or the whole, correct UID part
    assert results <= {b"", bytes.fromhex("DEADBEEF") + bytes((mifare.bcc(bytes.fromhex("DEADBEEF")),))}
