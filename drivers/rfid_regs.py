"""MFRC522 register numbers, timings and the reader's error types, shared by the driver modules."""
from __future__ import annotations

from .errors import DriverError

GENUINE_VERSIONS = {0x91: "MFRC522 v1.0", 0x92: "MFRC522 v2.0"}
CLONE_VERSIONS = {0x88: "FM17522 clone", 0x90: "MFRC522 v0.0", 0x12: "counterfeit MFRC522",
                  0xB2: "FM17522 clone", 0x89: "FM17522E clone"}

# Registers and bits the library has no names for (datasheet section 9).
_TX_CONTROL, _TX_ASK, _MODE, _T_MODE, _T_PRESCALER = 0x14, 0x15, 0x11, 0x2A, 0x2B
_T_RELOAD_H, _T_RELOAD_L, _COMMAND, _COMM_IRQ, _ERROR = 0x2C, 0x2D, 0x01, 0x04, 0x06
_STATUS2, _FIFO_DATA, _FIFO_LEVEL, _CONTROL, _BIT_FRAMING, _VERSION = (
    0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x37)
_CMD_IDLE, _CMD_TRANSCEIVE, _CMD_AUTHENT = 0x00, 0x0C, 0x0E
_RX_IRQ, _IDLE_IRQ, _TIMER_IRQ = 0x20, 0x10, 0x01
_ERR_NAMES = ((0x10, "FIFO overflow"), (0x08, "collision (two or more cards in the field)"),
              (0x04, "CRC error"), (0x02, "parity error"), (0x01, "protocol error"))
_MF_CRYPTO1_ON = 0x08

# Timer: TAuto, prescaler 169 -> 25 us ticks. Frames answered within microseconds by the card (REQA,
# anticollision, select, HALT) get 5 ms; MIFARE auth/read/write (EEPROM) get 25 ms.
_TICK_S = (2 * 169 + 1) / 13_560_000
SHORT_TIMEOUT_S = 0.005
LONG_TIMEOUT_S = 0.025


class CardReadError(DriverError):
    """A card answered but the exchange failed a check (BCC, CRC_A, parity, collision, NAK) or the
    card went silent half way. Not a chip fault: the next poll usually reads cleanly."""


class CardAuthError(CardReadError):
    """The card refused the sector key (or left the field during authentication)."""


class _NoAnswer(Exception):
    """The chip's timer expired without a card answering."""


def _w(addr: int) -> int:
    return (addr << 1) & 0x7E


def _r(addr: int) -> int:
    return ((addr << 1) & 0x7E) | 0x80
