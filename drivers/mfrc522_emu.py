"""A register-level MFRC522 emulator with ISO 14443-3 / MIFARE Classic cards in its field.

It answers the SPI byte protocol of the real chip (`xfer2`), so the unmodified `mfrc522` library and
our driver run against it through the fake `spidev` of `drivers.pi_fakes`. Emulated: the register
file, the 64-byte FIFO, the commands Idle, CalcCRC, Transceive, MFAuthent and SoftReset, the timer
(TAuto start at end of transmission, TimerIRq on expiry, on an injectable monotonic clock), the IRQ
and error registers, VersionReg and the RST pin. Cards: IDLE/READY/ACTIVE/HALT states, REQA/WUPA,
anticollision and select at cascade levels 1 and 2, MIFARE Classic authentication (key check only;
Crypto-1 is not emulated), READ, WRITE, HALT and the Gen1a backdoor.

Fault injection for tests and `gatectl sim`: two cards (collision), CRC and parity errors, a garbled
UID, a card leaving mid-read, the chip gone from the bus (reads 0x00 or 0xFF) and a spontaneous chip
reset. Thread-safe: the simulation thread presents cards while the poll thread reads.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from . import mifare
from .mifare import EmulatedCard, Response

__all__ = ["Mfrc522Emulator", "EmulatedCard", "FAULTS"]

# Register addresses (datasheet section 9).
COMMAND, COMM_IEN, DIV_IEN, COMM_IRQ, DIV_IRQ, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
STATUS1, STATUS2, FIFO_DATA, FIFO_LEVEL, CONTROL, BIT_FRAMING, COLL = (
    0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E)
TX_CONTROL = 0x14
CRC_RESULT_H, CRC_RESULT_L = 0x21, 0x22
T_MODE, T_PRESCALER, T_RELOAD_H, T_RELOAD_L = 0x2A, 0x2B, 0x2C, 0x2D
VERSION = 0x37

CMD_IDLE, CMD_CALC_CRC, CMD_TRANSMIT, CMD_TRANSCEIVE, CMD_MF_AUTHENT, CMD_SOFT_RESET = (
    0x00, 0x03, 0x04, 0x0C, 0x0E, 0x0F)

# CommIrqReg bits
TX_IRQ, RX_IRQ, IDLE_IRQ, ERR_IRQ, TIMER_IRQ = 0x40, 0x20, 0x10, 0x02, 0x01
# ErrorReg bits
COLL_ERR, CRC_ERR, PARITY_ERR, PROTOCOL_ERR = 0x08, 0x04, 0x02, 0x01
CRC_IRQ = 0x04            # DivIrqReg
MF_CRYPTO1_ON = 0x08      # Status2Reg

# Reset values of the registers that differ from 0x00 (datasheet table 20 and onward).
_RESET_VALUES = {
    COMMAND: 0x20, COMM_IEN: 0x80, COMM_IRQ: 0x14, STATUS1: 0x21, 0x0B: 0x08, CONTROL: 0x10,
    COLL: 0xA0, 0x11: 0x3F, TX_CONTROL: 0x80, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84, 0x19: 0x4D,
    0x1C: 0x62, 0x1F: 0xEB, CRC_RESULT_H: 0xFF, CRC_RESULT_L: 0xFF, 0x24: 0x26, 0x26: 0x48,
    0x27: 0x88, 0x28: 0x20, 0x29: 0x20,
}

FAULTS = ("crc", "parity", "garble")
_FIFO_SIZE = 64
_XTAL_HZ = 13_560_000


class Mfrc522Emulator:
    """An MFRC522 on an SPI bus, with zero or more `EmulatedCard`s in its field.

    `xfer2(data)` is the SPI transfer; `transfers` counts them. `present(*cards)` puts cards in the
    field (two or more collide), `remove()` takes them out. Faults: `inject(kind)` for the next card
    answer (`"crc"`, `"parity"`, `"garble"`), `leave_after(frames)`, `set_absent(0x00 | 0xFF | None)`,
    `chip_reset()`.
    """

    def __init__(self, version: int = 0x92, *, clock: Callable[[], float] = time.monotonic):
        self.version = version
        self.transfers = 0
        self._clock = clock
        self._lock = threading.RLock()
        self._cards: list[EmulatedCard] = []
        self._scheduled: list[tuple[float, float, EmulatedCard]] = []
        self._faults: list[str] = []
        self._leave_after: int | None = None
        self._absent: int | None = None
        self._powered = True          # False while the RST pin is held low
        self.resets = 0
        self._reset_registers()

    # ----------------------------------------------------------------- control (tests, sim thread)
    def present(self, *cards: EmulatedCard) -> None:
        """Put cards into the field (they power up in IDLE). Two or more answer at once: collision."""
        with self._lock:
            for card in cards:
                if card not in self._cards:
                    card.power_up()
                    self._cards.append(card)

    def remove(self, card: EmulatedCard | None = None) -> None:
        """Take one card (or all) out of the field."""
        with self._lock:
            self._cards = [] if card is None else [c for c in self._cards if c is not card]

    def schedule(self, card: EmulatedCard, start: float, end: float) -> None:
        """A tap in the emulator's own clock: `card` is in the field from `start` to `end` (checked
        at every frame, so a card can leave in the middle of a read, as a hand does)."""
        if end <= start:
            raise ValueError(f"schedule: end {end} must be after start {start}")
        with self._lock:
            self._scheduled.append((start, end, card))
            self._scheduled.sort(key=lambda entry: entry[0])

    def _apply_schedule(self) -> None:
        if not self._scheduled:
            return
        now = self._clock()
        keep = []
        for start, end, card in self._scheduled:
            if now < start:
                keep.append((start, end, card))
            elif now < end:
                if card not in self._cards:
                    card.power_up()
                    self._cards.append(card)
                keep.append((start, end, card))
            else:
                self._cards = [c for c in self._cards if c is not card]
        self._scheduled = keep

    @property
    def cards(self) -> tuple[EmulatedCard, ...]:
        with self._lock:
            self._apply_schedule()
            return tuple(self._cards)

    def inject(self, kind: str, count: int = 1) -> None:
        """Corrupt the next `count` card answers that can carry the fault.

        "crc": a bit flipped in a CRC_A- or BCC-protected answer; "parity": the chip flags ParityErr
        on the next answer; "garble": the next anticollision answer carries a wrong UID with a
        matching BCC (only a re-read or the select can catch it).
        """
        if kind not in FAULTS:
            raise ValueError(f"fault: must be one of {', '.join(FAULTS)}, got {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    def leave_after(self, frames: int) -> None:
        """The cards leave the field after answering `frames` more frames (a card pulled mid-read)."""
        with self._lock:
            self._leave_after = frames

    def set_absent(self, value: int | None) -> None:
        """Simulate the chip gone from the bus: MISO reads all 0x00 or all 0xFF; None: back again."""
        if value not in (None, 0x00, 0xFF):
            raise ValueError(f"absent value: must be 0x00, 0xFF or None, got {value!r}")
        with self._lock:
            self._absent = value

    def chip_reset(self) -> None:
        """A spontaneous reset (brown-out, ESD): every register back to its power-on value."""
        with self._lock:
            self._reset_registers()

    def set_rst(self, high: bool) -> None:
        """The NRSTPD pin: low powers the chip down, low->high is a hard reset."""
        with self._lock:
            if high and not self._powered:
                self._reset_registers()
                self.resets += 1
            self._powered = bool(high)

    # ----------------------------------------------------------------------------- SPI protocol
    def xfer2(self, data: list[int]) -> list[int]:
        """One SPI transaction: address byte ((addr << 1) & 0x7E, | 0x80 to read), then data.

        A read returns, for each address byte sent, the register named by the previous byte (burst
        read); a write stores every following byte into the one register (burst FIFO write).
        """
        with self._lock:
            self.transfers += 1
            if self._absent is not None:
                return [self._absent] * len(data)
            if not self._powered or not data:
                return [0] * len(data)
            first = data[0]
            if first & 0x80:
                out = [0]
                for i in range(1, len(data)):
                    out.append(self._read((data[i - 1] >> 1) & 0x3F))
                return out
            addr = (first >> 1) & 0x3F
            for value in data[1:]:
                self._write(addr, value & 0xFF)
            return [0] * len(data)

    # ------------------------------------------------------------------------------- registers
    def _reset_registers(self) -> None:
        self._regs = [0] * 64
        for addr, value in _RESET_VALUES.items():
            self._regs[addr] = value
        self._fifo: list[int] = []
        self._timer_deadline: float | None = None

    def _read(self, addr: int) -> int:
        self._poll_timer()
        if addr == FIFO_DATA:
            return self._fifo.pop(0) if self._fifo else 0
        if addr == FIFO_LEVEL:
            return len(self._fifo)
        if addr == VERSION:
            return self.version
        if addr in (COMM_IRQ, DIV_IRQ):
            return self._regs[addr] & 0x7F          # Set1/Set2 read as 0
        if addr == STATUS1:
            running = 0x02 if self._timer_deadline is not None else 0
            irq = 0x10 if self._regs[COMM_IRQ] & self._regs[COMM_IEN] & 0x7F else 0
            return (self._regs[STATUS1] & ~0x12) | running | irq
        return self._regs[addr]

    def _write(self, addr: int, value: int) -> None:
        if addr == FIFO_DATA:
            if len(self._fifo) < _FIFO_SIZE:
                self._fifo.append(value)
            else:
                self._regs[ERROR] |= 0x10           # BufferOvfl
        elif addr == FIFO_LEVEL:
            if value & 0x80:                        # FlushBuffer
                self._fifo.clear()
                self._regs[ERROR] &= ~0x10
        elif addr in (COMM_IRQ, DIV_IRQ):
            bits = value & 0x7F
            if value & 0x80:
                self._regs[addr] |= bits
            else:
                self._regs[addr] &= ~bits
        elif addr in (ERROR, VERSION):
            pass                                    # read-only
        elif addr == COMMAND:
            self._regs[COMMAND] = (self._regs[COMMAND] & 0xF0) | (value & 0x30) | (value & 0x0F)
            self._run_command(value & 0x0F)
        elif addr == BIT_FRAMING:
            self._regs[BIT_FRAMING] = value
            if value & 0x80 and self._regs[COMMAND] & 0x0F == CMD_TRANSCEIVE:
                self._transceive()
        elif addr == CONTROL:
            if value & 0x40:                        # TStartNow
                self._start_timer()
            if value & 0x80:                        # TStopNow
                self._timer_deadline = None
            # RxLastBits (bits 2..0) is read-only; TStartNow/TStopNow are strobes, not stored.
        else:
            self._regs[addr] = value

    # -------------------------------------------------------------------------------- timer
    def _timer_seconds(self) -> float:
        prescaler = ((self._regs[T_MODE] & 0x0F) << 8) | self._regs[T_PRESCALER]
        reload = (self._regs[T_RELOAD_H] << 8) | self._regs[T_RELOAD_L]
        return (reload + 1) * (2 * prescaler + 1) / _XTAL_HZ

    def _start_timer(self) -> None:
        self._timer_deadline = self._clock() + self._timer_seconds()

    def _poll_timer(self) -> None:
        if self._timer_deadline is not None and self._clock() >= self._timer_deadline:
            self._timer_deadline = None
            self._regs[COMM_IRQ] |= TIMER_IRQ

    def _end_of_transmission(self) -> None:
        self._regs[COMM_IRQ] |= TX_IRQ
        if self._regs[T_MODE] & 0x80:               # TAuto: timer starts when sending ends
            self._start_timer()

    # ----------------------------------------------------------------------------- commands
    def _run_command(self, cmd: int) -> None:
        if cmd == CMD_SOFT_RESET:
            self._reset_registers()
            self.resets += 1
        elif cmd == CMD_CALC_CRC:
            crc = mifare.crc_a(self._fifo)
            self._fifo.clear()
            self._regs[CRC_RESULT_L], self._regs[CRC_RESULT_H] = crc[0], crc[1]
            self._regs[DIV_IRQ] |= CRC_IRQ
        elif cmd == CMD_MF_AUTHENT:
            self._authenticate()
        elif cmd == CMD_TRANSMIT:
            frame = bytes(self._fifo)
            self._fifo.clear()
            self._end_of_transmission()
            self._deliver(frame, self._regs[BIT_FRAMING] & 0x07)
            self._finish(IDLE_IRQ)

    def _finish(self, irq: int) -> None:
        self._regs[COMM_IRQ] |= irq
        self._regs[COMMAND] &= 0xF0                 # back to Idle

    def _authenticate(self) -> None:
        data = bytes(self._fifo)
        self._fifo.clear()
        self._end_of_transmission()
        if len(data) != 12 or data[0] not in (mifare.AUTH_KEY_A, mifare.AUTH_KEY_B):
            self._regs[ERROR] |= PROTOCOL_ERR
            self._finish(ERR_IRQ | IDLE_IRQ)
            return
        ok = [c for c in self._field_cards()
              if c.authenticate(data[0], data[1], data[2:8], data[8:12])]
        if len(ok) == 1:
            self._timer_deadline = None
            self._regs[STATUS2] |= MF_CRYPTO1_ON
            self._finish(IDLE_IRQ)
        # else: the card stays silent; the chip waits until the timer fires (as the real one does).

    def _transceive(self) -> None:
        frame = bytes(self._fifo)
        self._fifo.clear()
        last_bits = self._regs[BIT_FRAMING] & 0x07
        self._regs[ERROR] &= 0x10
        self._regs[COLL] = 0xA0
        self._end_of_transmission()
        answers = self._deliver(frame, last_bits)
        if not answers:
            return                                   # silence: TimerIRq will end the wait
        self._timer_deadline = None                  # reception started: TAuto stops the timer
        data, bits = self._merge(answers)
        data, bits = self._apply_fault(data, bits, answers[0])
        self._fifo.extend(data[:_FIFO_SIZE])
        self._regs[CONTROL] = (self._regs[CONTROL] & ~0x07) | (bits % 8)
        irq = RX_IRQ
        if self._regs[ERROR] & 0x1F:
            irq |= ERR_IRQ
        self._regs[COMM_IRQ] |= irq

    def _field_cards(self) -> list[EmulatedCard]:
        self._apply_schedule()
        return list(self._cards) if self._regs[TX_CONTROL] & 0x03 else []   # antenna off: no field

    def _deliver(self, frame: bytes, last_bits: int) -> list[Response]:
        """Send a frame to every card in the field and collect their answers."""
        cards = self._field_cards()
        crypto = bool(self._regs[STATUS2] & MF_CRYPTO1_ON)
        answers = [a for a in (c.receive(frame, last_bits, crypto) for c in cards) if a is not None]
        if self._leave_after is not None and cards:
            self._leave_after -= 1
            if self._leave_after <= 0:
                self._leave_after = None
                self._cards = []
        return answers

    def _merge(self, answers: list[Response]) -> tuple[bytes, int]:
        """What the receiver hears: one answer, or the wired-OR of several with CollErr set."""
        data, bits = answers[0].data, answers[0].bits
        for other in answers[1:]:
            first = _first_difference(data, other.data)
            if first is not None:                   # identical answers (a clone) do not collide
                self._regs[ERROR] |= COLL_ERR
                pos = first + 1
                self._regs[COLL] = (pos & 0x1F) if pos <= 32 else 0x20   # 0x20: CollPosNotValid
            data = bytes(a | b for a, b in zip(data, other.data))
        return data, bits

    def _apply_fault(self, data: bytes, bits: int, answer: Response) -> tuple[bytes, int]:
        if not self._faults:
            return data, bits
        kind = self._faults[0]
        if kind == "parity":
            self._regs[ERROR] |= PARITY_ERR
        elif kind == "crc" and answer.checked:
            data = data[:-1] + bytes((data[-1] ^ 0x01,))
        elif kind == "garble" and answer.kind == "anticoll":
            part = bytes((data[0], data[1] ^ 0x10)) + data[2:4]
            data = part + bytes((mifare.bcc(part),))
        else:
            return data, bits
        self._faults.pop(0)
        return data, bits


def _first_difference(a: bytes, b: bytes) -> int | None:
    """Index of the first differing bit, LSB first within each byte (air order)."""
    for i, (x, y) in enumerate(zip(a, b)):
        diff = x ^ y
        if diff:
            return i * 8 + (diff & -diff).bit_length() - 1
    return None
