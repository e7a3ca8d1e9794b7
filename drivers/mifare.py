"""ISO 14443-3 / MIFARE Classic: constants, pure helpers, and an emulated card.

The helpers (CRC_A, the UID check byte BCC, cascade levels, the sector-trailer layout) are shared by
the driver and the emulator and touch no bus. `EmulatedCard` is the card side (PICC) that
`drivers.mfrc522_emu.Mfrc522Emulator` puts in its field.
"""
from __future__ import annotations

# PCD -> PICC commands (ISO 14443-3 and MIFARE Classic).
REQA = 0x26               # 7-bit frame: wakes cards in IDLE only
WUPA = 0x52               # 7-bit frame: wakes cards in IDLE and HALT
CASCADE_LEVELS = (0x93, 0x95, 0x97)
NVB_ANTICOLL = 0x20       # "2 bytes sent, 0 UID bits known": every card answers its UID part
NVB_SELECT = 0x70         # "7 bytes sent": the full UID part + BCC, then CRC_A
CASCADE_TAG = 0x88        # first byte of a cascade-level UID part when more levels follow
SAK_CASCADE_BIT = 0x04    # SAK bit: UID not complete, go to the next cascade level
HALT = (0x50, 0x00)
AUTH_KEY_A = 0x60
AUTH_KEY_B = 0x61
READ = 0x30
WRITE = 0xA0
MIFARE_ACK = 0x0A         # 4-bit acknowledge
GEN1A_BACKDOOR_1 = 0x40   # 7-bit frame: "magic" Chinese Gen1a cards answer ACK
GEN1A_BACKDOOR_2 = 0x43

BLOCK_SIZE = 16
KEY_SIZE = 6
TRANSPORT_KEY = b"\xff" * KEY_SIZE
# Transport configuration: key A reads/writes data blocks and writes the trailer.
TRANSPORT_ACCESS = bytes((0xFF, 0x07, 0x80, 0x69))


def crc_a(data: bytes | list[int]) -> bytes:
    """CRC_A of ISO 14443-3 (preset 0x6363, reflected 0x1021), low byte first as sent on air."""
    crc = 0x6363
    for byte in data:
        b = (byte ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = ((crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)) & 0xFFFF
    return bytes((crc & 0xFF, crc >> 8))


def bcc(uid_part: bytes | list[int]) -> int:
    """Block check character: XOR of the four UID bytes of one cascade level."""
    value = 0
    for byte in uid_part:
        value ^= byte
    return value


def cascade_parts(uid: bytes) -> list[bytes]:
    """The 4-byte UID parts sent at each cascade level (cascade tag 0x88 before incomplete parts)."""
    if len(uid) == 4:
        return [uid]
    if len(uid) == 7:
        return [bytes((CASCADE_TAG,)) + uid[:3], uid[3:]]
    if len(uid) == 10:
        return [bytes((CASCADE_TAG,)) + uid[:3], bytes((CASCADE_TAG,)) + uid[3:6], uid[6:]]
    raise ValueError(f"uid: must be 4, 7 or 10 bytes, got {len(uid)}")


def sector_of(block: int) -> int:
    """Sector of a MIFARE Classic 1K block (16 sectors of 4 blocks)."""
    if not 0 <= block < 64:
        raise ValueError(f"block: must be between 0 and 63 (MIFARE Classic 1K), got {block}")
    return block // 4


def trailer_block(sector: int) -> int:
    """Block number of a sector's trailer (keys and access bits)."""
    return sector * 4 + 3


def is_trailer(block: int) -> bool:
    return block % 4 == 3


def access_bits_valid(access: bytes) -> bool:
    """True if bytes 6..8 of a trailer hold each access bit together with its inverse.

    A trailer written with inconsistent access bits locks the sector for good, so the driver refuses
    to write one.
    """
    b6, b7, b8 = access[0], access[1], access[2]
    c1, c2, c3 = b7 >> 4, b8 & 0x0F, b8 >> 4
    return (~b6 & 0x0F) == c1 and (~b6 >> 4 & 0x0F) == c2 and (b7 & 0x0F) == (~c3 & 0x0F)


def sector_trailer(key_a: bytes, key_b: bytes | None = None,
                   access: bytes = TRANSPORT_ACCESS) -> bytes:
    """A 16-byte sector trailer: key A, access bits (+ user byte), key B."""
    key_b = key_a if key_b is None else key_b
    if len(key_a) != KEY_SIZE or len(key_b) != KEY_SIZE:
        raise ValueError(f"sector trailer keys must be {KEY_SIZE} bytes")
    if len(access) != 4 or not access_bits_valid(access):
        raise ValueError(f"sector trailer access bits {access.hex()} are inconsistent")
    return bytes(key_a) + bytes(access) + bytes(key_b)


# ------------------------------------------------------------------- an emulated card (PICC side)
IDLE, READY, ACTIVE, HALTED = "IDLE", "READY", "ACTIVE", "HALT"
_NAK = 0x04


class Response:
    """A card's answer: `data`, its length in `bits`, whether it carries a CRC_A/BCC (`checked`)."""

    __slots__ = ("data", "bits", "checked", "kind")

    def __init__(self, data: bytes, bits: int | None = None, checked: bool = False, kind: str = ""):
        self.data, self.checked, self.kind = bytes(data), checked, kind
        self.bits = len(data) * 8 if bits is None else bits


class EmulatedCard:
    """A MIFARE Classic 1K card (4- or 7-byte UID) as seen over ISO 14443-3.

    `blocks` overrides initial block contents; `sector_keys` maps sector -> key used as key A and
    key B (default: the transport key FF..FF). `magic_gen1a=True` makes a Chinese "magic" card that
    answers the 0x40/0x43 backdoor and then reads/writes any block, block 0 included, without keys.
    """

    def __init__(self, uid: bytes, sak: int = 0x08, blocks: dict[int, bytes] | None = None,
                 sector_keys: dict[int, bytes] | None = None, magic_gen1a: bool = False):
        uid = bytes(uid)
        if len(uid) not in (4, 7):
            raise ValueError(f"uid: must be 4 or 7 bytes, got {len(uid)}")
        self.uid, self.sak, self.magic_gen1a = uid, sak, magic_gen1a
        self.atqa = bytes((0x44 if len(uid) == 7 else 0x04, 0x00))
        self._parts = cascade_parts(uid)
        self._blocks = [bytearray(16) for _ in range(64)]
        for sector in range(16):
            key = (sector_keys or {}).get(sector, TRANSPORT_KEY)
            self._blocks[trailer_block(sector)][:] = sector_trailer(key)
        head = uid + bytes((bcc(uid),)) if len(uid) == 4 else uid
        self._blocks[0][:len(head) + 3] = head + bytes((sak,)) + self.atqa
        for block, data in (blocks or {}).items():
            self._blocks[block][:] = _block_bytes(data)
        self.power_up()

    def __repr__(self) -> str:
        return f"EmulatedCard({self.uid.hex().upper()}, magic_gen1a={self.magic_gen1a})"

    def block(self, number: int) -> bytes:
        """The stored contents of a block (tests and the simulator inspect cards with this)."""
        return bytes(self._blocks[number])

    def clone(self, uid: bytes | None = None, *, magic_gen1a: bool = False,
              copy_blocks: bool = False) -> "EmulatedCard":
        """A copy as an attacker makes it: same UID; data blocks only if `copy_blocks` (keys cracked)."""
        blocks = {n: bytes(b) for n, b in enumerate(self._blocks) if n} if copy_blocks else None
        return EmulatedCard(uid or self.uid, self.sak, blocks, magic_gen1a=magic_gen1a)

    # ---------------------------------------------------------------- ISO 14443-3 state machine
    def power_up(self) -> None:
        self.state, self._level, self._halted = IDLE, 0, False
        self._auth_sector: int | None = None
        self._backdoor = 0          # 1 after 0x40, 2 (open) after 0x43
        self._write_block: int | None = None

    def _fail(self) -> None:
        """Any unexpected frame: back to IDLE, or to HALT for a card that was halted (ISO 14443-3)."""
        self.state = HALTED if self._halted else IDLE
        self._level, self._auth_sector, self._backdoor, self._write_block = 0, None, 0, None

    def receive(self, frame: bytes, last_bits: int, crypto: bool) -> Response | None:
        if not frame:
            return None
        if last_bits == 7 and len(frame) == 1:
            return self._short_frame(frame[0])
        if self._backdoor == 1 and frame == bytes((GEN1A_BACKDOOR_2,)):
            self._backdoor, self.state = 2, ACTIVE
            return Response(bytes((MIFARE_ACK,)), bits=4)
        if self.state == READY:
            return self._anticollision(frame, last_bits)
        if self.state == ACTIVE:
            if self._auth_sector is not None and not crypto:
                self._fail()                        # the chip dropped Crypto-1: we hear noise
                return None
            return self._active(frame)
        return None                                 # IDLE/HALT ignore everything else

    def _short_frame(self, cmd: int) -> Response | None:
        wake = cmd == WUPA and self.state in (IDLE, HALTED)
        if wake or (cmd == REQA and self.state == IDLE):
            self._halted = self.state == HALTED
            self.state, self._level, self._backdoor = READY, 0, 0
            return Response(self.atqa)
        if cmd == GEN1A_BACKDOOR_1 and self.magic_gen1a and self.state in (IDLE, HALTED):
            self._backdoor = 1
            return Response(bytes((MIFARE_ACK,)), bits=4)
        if self.state in (READY, ACTIVE):
            self._fail()
        return None

    def _anticollision(self, frame: bytes, last_bits: int) -> Response | None:
        if len(frame) < 2 or frame[0] != CASCADE_LEVELS[self._level]:
            self._fail()
            return None
        part = self._parts[self._level]
        full = part + bytes((bcc(part),))
        nvb = frame[1]
        if nvb == NVB_SELECT and len(frame) == 9:
            if crc_a(frame[:7]) != frame[7:9] or frame[2:7] != full:
                self._fail()                        # not us, or a corrupted select
                return None
            if self._level + 1 < len(self._parts):
                self._level += 1
                sak = self.sak | SAK_CASCADE_BIT
            else:
                self.state, sak = ACTIVE, self.sak & ~SAK_CASCADE_BIT
            return Response(bytes((sak,)) + crc_a((sak,)), checked=True, kind="select")
        known = ((nvb >> 4) - 2) * 8 + (nvb & 0x0F)
        if not 0 <= known < 40 or len(frame) != 2 + (known + 7) // 8:
            self._fail()
            return None
        value = int.from_bytes(full, "little")
        mask = (1 << known) - 1
        if int.from_bytes(frame[2:], "little") & mask != value & mask:
            return None                             # not our prefix: stay silent, stay READY
        align = known % 8
        rest = (value >> known) << align
        nbits = 40 - known + align
        data = rest.to_bytes((nbits + 7) // 8, "little")
        return Response(data, bits=nbits, checked=True, kind="anticoll")

    def _active(self, frame: bytes) -> Response | None:
        if self._write_block is not None:
            block, self._write_block = self._write_block, None
            if len(frame) != 18 or crc_a(frame[:16]) != frame[16:]:
                return self._nak()
            self._blocks[block][:] = frame[:16]
            return Response(bytes((MIFARE_ACK,)), bits=4)
        if len(frame) < 3 or crc_a(frame[:-2]) != frame[-2:]:
            self._fail()
            return None
        cmd = frame[0]
        if cmd == HALT[0] and len(frame) == 4:
            self._halted = True
            self._fail()
            return None
        if cmd in (READ, WRITE) and len(frame) == 4 and frame[1] < 64:
            block = frame[1]
            if not self._may_access(block, write=cmd == WRITE):
                return self._nak()
            if cmd == WRITE:
                self._write_block = block
                return Response(bytes((MIFARE_ACK,)), bits=4)
            data = bytearray(self._blocks[block])
            if is_trailer(block):
                data[:6] = bytes(6)                 # key A never reads back
            return Response(bytes(data) + crc_a(data), checked=True, kind="read")
        self._fail()
        return None

    def _may_access(self, block: int, *, write: bool) -> bool:
        if self._backdoor == 2:
            return True
        if write and block == 0:
            return False                            # the manufacturer block is read-only
        return self._auth_sector == sector_of(block)

    def _nak(self) -> Response:
        self._fail()
        return Response(bytes((_NAK,)), bits=4)

    def authenticate(self, cmd: int, block: int, key: bytes, uid4: bytes) -> bool:
        """MFAuthent: right state, right UID bytes, and the key stored in the sector trailer."""
        if self.state != ACTIVE or block >= 64 or uid4 != self.uid[-4:]:
            return False
        trailer = self._blocks[trailer_block(sector_of(block))]
        stored = trailer[0:6] if cmd == AUTH_KEY_A else trailer[10:16]
        if bytes(stored) != bytes(key):
            self._fail()
            return False
        self._auth_sector = sector_of(block)
        return True


def _block_bytes(data: bytes) -> bytes:
    if len(data) != 16:
        raise ValueError(f"block data: must be 16 bytes, got {len(data)}")
    return bytes(data)
