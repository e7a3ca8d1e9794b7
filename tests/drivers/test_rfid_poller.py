"""RfidPoller over the real driver and the emulator: taps, debounce, faults, recovery, health."""
from __future__ import annotations

import threading

import pytest

from drivers.mfrc522_emu import EmulatedCard
from drivers.pi_fakes import fake_gpio
from drivers.rfid_poller import RfidPoller, Tap

UID4 = bytes.fromhex("DEADBEEF")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")


class Recorder:
    def __init__(self) -> None:
        self.taps: list[Tap] = []
        self.faults: list[str] = []
        self.recovered = 0
        self.tapped = threading.Event()

    def on_tap(self, tap: Tap) -> None:
        self.taps.append(tap)
        self.tapped.set()

    def on_fault(self, reason: str) -> None:
        self.faults.append(reason)

    def on_recovered(self) -> None:
        self.recovered += 1


@pytest.fixture
def rec():
    return Recorder()


def make(reader, rec, fake_clock, **kw):
    return RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault,
                      on_recovered=rec.on_recovered, clock=fake_clock, **kw)


def polls(poller, n, clock=None, step=0.1):
    for _ in range(n):
        poller.poll_once()
        if clock is not None:
            clock.advance(step)


def test_one_tap_per_presence_and_a_new_tap_after_removal(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    card = EmulatedCard(UID4)
    emu.present(card)
    emu.leave_after(4)                                   # WUPA, anticollision, select, HALT: one read
    polls(p, 1)
    assert rec.taps == []                                # one read is not enough...
    emu.present(card)
    polls(p, 1)                                          # ...its confirmation follows in the same poll
    assert len(rec.taps) == 1
    polls(p, 10)
    assert rec.taps == [Tap("DEADBEEF", UID4, None, False)]
    emu.remove()
    polls(p, 3)
    emu.present(card)
    polls(p, 3)
    assert [t.uid for t in rec.taps] == ["DEADBEEF", "DEADBEEF"]


def test_seven_byte_uid_tap(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    emu.present(EmulatedCard(UID7))
    polls(p, 2)
    assert rec.taps[0].uid == "04A1B2C3D4E5F6" and rec.taps[0].uid_bytes == UID7


def test_flaky_reads_never_double_or_corrupt_a_tap(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    emu.present(EmulatedCard(UID4))
    polls(p, 2)
    for fault in ("crc", "parity", "garble", "crc"):
        emu.inject(fault)
        polls(p, 2)
    emu.leave_after(1)                                   # a glitch: the card vanishes once...
    polls(p, 2)
    emu.present(EmulatedCard(UID4))                      # ...and is back before absent_polls
    polls(p, 4)
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]


def test_garbled_uid_is_never_reported(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    emu.present(EmulatedCard(UID4))
    emu.inject("garble", count=5)
    polls(p, 12)
    assert {t.uid for t in rec.taps} == {"DEADBEEF"}


def test_two_cards_give_no_tap_until_one_leaves(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    a, b = EmulatedCard(UID4), EmulatedCard(bytes.fromhex("DEADBEEE"))
    emu.present(a, b)
    polls(p, 6)
    assert rec.taps == []
    emu.remove(b)
    polls(p, 2)
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]


def test_reader_gone_raises_one_alarm_then_recovers(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock, fault_threshold=3)
    polls(p, 1)
    emu.set_absent(0xFF)
    polls(p, 2)
    assert rec.faults == []                              # below the threshold: no alarm yet
    polls(p, 5)
    assert len(rec.faults) == 1 and "0xFF" in rec.faults[0]
    assert p.faulted
    emu.set_absent(None)
    emu.present(EmulatedCard(UID4))
    polls(p, 3)
    assert rec.recovered == 1 and not p.faulted
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]


def test_a_single_chip_reset_recovers_silently(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock)
    emu.present(EmulatedCard(UID4))
    polls(p, 2)
    emu.chip_reset()
    polls(p, 4)
    assert rec.faults == [] and rec.recovered == 0
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]     # same card, same presence: no new tap


def test_hard_reset_after_repeated_failures(reader, emu, rec, fake_clock):
    p = make(reader, rec, fake_clock, fault_threshold=5)
    polls(p, 1)
    resets, pulses = emu.resets, fake_gpio().outputs[25].count(0)
    emu.set_absent(0x00)
    polls(p, 3)
    emu.set_absent(None)
    # failure 1: soft reset; failures 2 and 3: RST pulled low and released
    assert fake_gpio().outputs[25].count(0) - pulses == 2
    polls(p, 1)
    assert emu.resets > resets and rec.faults == []


def test_health_check_runs_at_start_and_every_interval(reader, emu, rec, fake_clock, caplog):
    p = make(reader, rec, fake_clock, health_interval_s=30.0)
    polls(p, 1)                                          # the health check at start
    emu.present(EmulatedCard(UID4))
    emu.xfer2([(0x14 << 1) & 0x7E, 0x80])                 # antenna off: every poll reads nothing
    polls(p, 5, fake_clock, step=1.0)
    assert rec.taps == []
    fake_clock.advance(30.0)
    polls(p, 2)
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]     # the health check put the antenna back


def test_credential_and_magic_probe(reader, emu, rec, fake_clock):
    key = bytes.fromhex("A0A1A2A3A4A5")
    p = make(reader, rec, fake_clock, credential_key_for=lambda uid: (4, key))
    good = EmulatedCard(UID4, sector_keys={1: key}, blocks={4: b"C" * 16})
    emu.present(good)
    polls(p, 2)
    assert rec.taps[-1] == Tap("DEADBEEF", UID4, b"C" * 16, False)
    emu.remove()
    polls(p, 3)
    emu.present(good.clone())                            # same UID, keys unknown: no credential
    polls(p, 6)
    assert rec.taps[-1].credential is None and not rec.taps[-1].magic
    emu.remove()
    polls(p, 3)
    emu.present(good.clone(magic_gen1a=True, copy_blocks=True))
    polls(p, 4)
    assert rec.taps[-1].magic is True
    assert len(rec.taps) == 3


def test_a_transient_error_on_the_credential_read_is_retried(reader, emu, rec, fake_clock):
    key = bytes.fromhex("A0A1A2A3A4A5")
    p = make(reader, rec, fake_clock, credential_key_for=lambda uid: (4, key))
    emu.present(EmulatedCard(UID4, sector_keys={1: key}, blocks={4: b"C" * 16}))
    polls(p, 1)
    emu.inject("crc", count=3)                            # corrupts the next checked answers
    polls(p, 6)
    assert [t.credential for t in rec.taps] == [b"C" * 16]


def test_callback_exception_does_not_stop_polling(reader, emu, fake_clock):
    seen = []

    def bad(tap):
        seen.append(tap)
        raise RuntimeError("bug in the daemon")

    p = RfidPoller(reader, on_tap=bad, on_fault=print, on_recovered=print, clock=fake_clock)
    emu.present(EmulatedCard(UID4))
    polls(p, 2)
    emu.remove()
    polls(p, 3)
    emu.present(EmulatedCard(UID4))
    polls(p, 2)
    assert len(seen) == 2


def test_thread_reports_taps_and_closes_promptly(reader, emu, rec):
    p = RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault,
                   on_recovered=rec.on_recovered, rate_hz=20)
    with p:
        p.start()
        emu.present(EmulatedCard(UID7))
        assert rec.tapped.wait(timeout=10)
        thread = p._thread
    assert thread is not None and not thread.is_alive()
    p.close()
    assert rec.taps[0].uid == "04A1B2C3D4E5F6"


def test_invalid_settings_are_named(reader, rec):
    with pytest.raises(ValueError, match="poll_hz"):
        RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault,
                   on_recovered=rec.on_recovered, rate_hz=0)


class FlakyReader:
    """A reader whose SPI bus fails with EIO (what spidev raises) on the reads listed."""

    def __init__(self, failing: set[int]) -> None:
        self.failing, self.n = failing, 0

    def check(self): return 0x92
    def soft_reset(self): return 0x92
    def hard_reset(self): return 0x92
    def probe_magic(self, uid=None): return False
    def read_block(self, *a): return bytes(16)

    def read_uid(self):
        import errno
        self.n += 1
        if self.n in self.failing:
            raise OSError(errno.EIO, "Input/output error")
        return UID4 if self.n > 20 else None


def test_an_unexpected_error_is_a_device_fault_and_polling_goes_on(rec, fake_clock):
    # F13: an OSError from spidev used to end the polling thread silently.
    reader = FlakyReader(failing={5, 6, 7})
    p = RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault, on_recovered=rec.on_recovered,
                   clock=fake_clock, fault_threshold=3)
    polls(p, 8)
    assert len(rec.faults) == 1 and "Input/output error" in rec.faults[0]
    assert rec.recovered == 1 and p.unexpected_errors == 3
    polls(p, 14)
    assert [t.uid for t in rec.taps] == ["DEADBEEF"]


def test_the_thread_survives_an_unexpected_error(rec):
    reader = FlakyReader(failing={5})
    p = RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault, on_recovered=rec.on_recovered,
                   rate_hz=50)
    with p:
        p.start()
        assert rec.tapped.wait(timeout=10)
        assert p.alive and p.ensure_alive() is True and p.unexpected_errors == 1


def test_ensure_alive_restarts_a_dead_thread_and_reports_it(reader, emu, rec):
    p = RfidPoller(reader, on_tap=rec.on_tap, on_fault=rec.on_fault, on_recovered=rec.on_recovered,
                   rate_hz=50)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    p._thread = dead                                   # a thread that died (it should not: F13)
    assert p.alive is False
    with p:
        assert p.ensure_alive() is False
        assert len(rec.faults) == 1 and "died" in rec.faults[0]
        emu.present(EmulatedCard(UID4))
        assert rec.tapped.wait(timeout=10) and p.alive
