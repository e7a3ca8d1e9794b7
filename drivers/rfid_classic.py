"""MIFARE Classic operations of the RFID reader: authenticate, read and write blocks, provision a
sector, probe the Gen1a backdoor. A mixin: `RfidReader` supplies the transceive primitives."""
from __future__ import annotations

import logging

from . import mifare
from .errors import DeviceConfigError
from .rfid_regs import (
    _CMD_AUTHENT, _IDLE_IRQ, _MF_CRYPTO1_ON, _STATUS2, LONG_TIMEOUT_S, CardAuthError, CardReadError, _NoAnswer,
)

log = logging.getLogger("drivers.rfid")


class MifareClassicOps:
    """Block-level MIFARE Classic commands; every public method holds the reader's lock and HALTs."""

    # ----------------------------------------------------------------------- MIFARE Classic
    def _authenticate_raw(self, frame: bytes) -> None:
        self._start(_CMD_AUTHENT, frame, LONG_TIMEOUT_S)
        try:
            err = self._wait(_IDLE_IRQ, LONG_TIMEOUT_S)
        except _NoAnswer:
            raise CardAuthError(f"rfid: block {frame[1]}: the card refused the key") from None
        if err & 0x1F or not self.Read_MFRC522(_STATUS2) & _MF_CRYPTO1_ON:
            raise CardAuthError(f"rfid: block {frame[1]}: authentication failed")

    def _mifare(self, frame: bytes) -> tuple[bytes, int]:
        try:
            return self._transceive(frame + mifare.crc_a(frame), timeout_s=LONG_TIMEOUT_S)
        except _NoAnswer:
            raise CardReadError(f"rfid: no answer to MIFARE command 0x{frame[0]:02X}") from None

    def _read(self, block: int) -> bytes:
        data, _ = self._mifare(bytes((mifare.READ, block)))
        if len(data) != 18 or mifare.crc_a(data[:16]) != data[16:]:
            raise CardReadError(f"rfid: block {block}: answer failed its CRC_A check")
        return data[:16]

    def _expect_ack(self, frame: bytes, what: str) -> None:
        answer, bits = self._mifare(frame)
        if bits != 4 or len(answer) != 1 or answer[0] & 0x0F != mifare.MIFARE_ACK:
            raise CardReadError(f"rfid: {what}: card answered {answer.hex() or 'nothing'} (NAK)")

    def _session(self, uid: bytes, block: int, key: bytes):
        self._require_open()
        if len(key) != mifare.KEY_SIZE:
            raise DeviceConfigError(f"rfid: key must be {mifare.KEY_SIZE} bytes, got {len(key)}")
        mifare.sector_of(block)
        self._activate(bytes(uid))
        try:
            self._authenticate_raw(bytes((mifare.AUTH_KEY_A, block)) + bytes(key) + uid[-4:])
        except BaseException:
            self._halt()
            raise

    def read_block(self, uid: bytes, block: int, key: bytes) -> bytes:
        """Authenticate with key A and read one 16-byte block of the card `uid`, then HALT it."""
        with self._lock:
            self._session(uid, block, key)
            try:
                return self._read(block)
            finally:
                self._halt()

    def write_block(self, uid: bytes, block: int, key: bytes, data: bytes) -> None:
        """Authenticate with key A, write one block, read it back (data blocks), HALT.

        Refuses block 0 (manufacturer data) and trailers whose access bits would brick the sector.
        """
        data = bytes(data)
        if len(data) != mifare.BLOCK_SIZE:
            raise DeviceConfigError(f"rfid: block data must be 16 bytes, got {len(data)}")
        if block == 0:
            raise DeviceConfigError("rfid: block 0 holds the manufacturer data; not writing it")
        if mifare.is_trailer(block) and not mifare.access_bits_valid(data[6:9]):
            raise DeviceConfigError(f"rfid: trailer {block}: access bits {data[6:9].hex()} are "
                                    "inconsistent and would lock the sector")
        with self._lock:
            self._session(uid, block, key)
            try:
                self._expect_ack(bytes((mifare.WRITE, block)), f"write block {block}")
                self._expect_ack(data, f"write block {block} data")
                if not mifare.is_trailer(block) and self._read(block) != data:
                    raise CardReadError(f"rfid: block {block}: read-back differs from the write")
            finally:
                self._halt()

    def provision(self, uid: bytes, writes: list[tuple[int, bytes]], keys: list[bytes]) -> bytes:
        """Write `(block, data)` pairs of one sector in order, authenticating with the first of
        `keys` the card accepts (e.g. its diversified key, then the blank-card transport key).
        Put the trailer last: it changes the key. Returns the key that worked."""
        with self._lock:
            for key in keys:
                try:
                    self.read_block(uid, writes[0][0], key)
                    break
                except CardAuthError:
                    continue
            else:
                raise CardAuthError(f"rfid: card {bytes(uid).hex().upper()} accepts none of the "
                                    f"{len(keys)} keys for block {writes[0][0]}")
            for block, data in writes:
                self.write_block(uid, block, key, data)
            return key

    def MFRC522_Write(self, blockAddr, writeData):  # noqa: N802,N803 - the library's names
        """The library's version indexes an empty answer when the card is silent: guarded here."""
        try:
            self._expect_ack(bytes((self.PICC_WRITE, blockAddr)), f"write block {blockAddr}")
            self._expect_ack(bytes(writeData[:16]), f"write block {blockAddr} data")
        except CardReadError as exc:
            log.warning("%s", exc)

    def probe_magic(self, uid: bytes | None = None) -> bool:
        """True if the card in the field answers the Gen1a "magic card" backdoor (HALT, 0x40 in
        7 bits, 0x43), the usual blank for cloning MIFARE Classic. False if no card answers."""
        with self._lock:
            self._require_open()
            try:
                if uid is None:
                    self._wake()
                    self._select()
                else:
                    self._activate(bytes(uid))
            except _NoAnswer:
                return False
            self._halt()
            try:
                first, bits = self._transceive(bytes((mifare.GEN1A_BACKDOOR_1,)), bits=7)
                if bits != 4 or first[:1] != bytes((mifare.MIFARE_ACK,)):
                    return False
                second, bits = self._transceive(bytes((mifare.GEN1A_BACKDOOR_2,)))
                return bits == 4 and second[:1] == bytes((mifare.MIFARE_ACK,))
            except _NoAnswer:
                return False
            finally:
                self._halt()
