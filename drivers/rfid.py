"""MFRC522 RFID reader, built on the `mfrc522` library's `MFRC522` class.

The library is used for what it gets right (register map, SPI access, bit masks, reset, antenna) and
fixed by overriding what it gets wrong:

- `MFRC522_ToCard` waits with `~` where it means `not` and ignores TimerIRq: an idle poll costs
  2,013 SPI transfers. Ours stops on TimerIRq, sleeps while the chip's timer runs, reads the IRQ and
  error registers in one burst and the FIFO in one burst: about 9 transfers per idle poll.
- It reads cascade level 1 only, returns the UID with its BCC byte, never checks CRC_A and never
  HALTs the card (consecutive polls then alternate hit/miss). `read_uid` selects through cascade
  levels 1 and 2 (4- and 7-byte UIDs), checks BCC and CRC_A, returns the bare UID, then HALTs.
- It adds a log handler per instance and `GPIO.cleanup()`s every pin on close. Ours logs to
  `drivers.rfid` without adding handlers and releases only its RST pin.

`mfrc522` imports `RPi.GPIO` at import time, so it is imported when the first reader is built: this
module imports cleanly anywhere. In simulation call `drivers.pi_fakes.install_fake_pi_modules()` and
`attach_spi_device(...)` first.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Callable

from . import mifare
from .errors import DeviceConfigError, DeviceFault

log = logging.getLogger(__name__)

from .rfid_classic import MifareClassicOps
from .rfid_regs import (  # noqa: F401 - the error types and versions are part of this module's API
    CLONE_VERSIONS, GENUINE_VERSIONS, LONG_TIMEOUT_S, SHORT_TIMEOUT_S, CardAuthError, CardReadError,
    _BIT_FRAMING, _COMM_IRQ, _COMMAND, _CONTROL, _ERR_NAMES, _ERROR, _FIFO_DATA, _FIFO_LEVEL,
    _MF_CRYPTO1_ON, _MODE, _STATUS2, _T_MODE, _T_PRESCALER, _T_RELOAD_H, _T_RELOAD_L, _TICK_S,
    _TX_ASK, _TX_CONTROL, _VERSION, _CMD_IDLE, _CMD_TRANSCEIVE, _RX_IRQ,
    _TIMER_IRQ, _NoAnswer, _r, _w,
)


_impl: type | None = None


def _reader_class() -> type:
    """RfidReader combined with the library's MFRC522 (imported here, not at module import)."""
    global _impl
    lib = importlib.import_module("mfrc522.MFRC522")
    if _impl is None or _impl._lib is not lib:
        _impl = type("RfidReader", (RfidReader, lib.MFRC522),
                     {"__module__": __name__, "__doc__": RfidReader.__doc__, "_lib": lib})
    return _impl


class RfidReader(MifareClassicOps):
    """An MFRC522 on SPI `bus`.`device` with its RST wire on BCM pin `rst_pin`.

    `read_uid()` is one full poll: bytes of the UID, or None when no card answers. Raises
    `DeviceFault` when the chip itself does not answer sanely, `CardReadError` when a card answered
    badly. The instance is an `mfrc522.MFRC522` too. Thread-safe; a context manager.
    """

    def __new__(cls, *args, **kwargs):
        return object.__new__(_reader_class() if cls is RfidReader else cls)

    def __init__(self, bus: int = 0, device: int = 0, rst_pin: int = 25,
                 spi_hz: int = 1_000_000, *, accept_versions: frozenset[int] = frozenset(),
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep):
        self.bus, self.device, self.rst_pin = bus, device, rst_pin
        # The waits for the chip's timer and oscillator (tests run them on a virtual clock).
        self._monotonic, self._sleep = monotonic, sleep
        self.logger = log                 # the library logs through self.logger: no new handlers
        self._accept = frozenset(accept_versions)
        self._lock = threading.RLock()
        self._closed = False
        self._timer_reload: int | None = None
        self._gpio = self._lib.GPIO
        self._pin_ready = False
        self.spi = self._lib.spidev.SpiDev()
        self.chip_version: int | None = None
        try:
            try:
                self.spi.open(bus, device)
            except OSError as exc:
                raise DeviceFault(f"rfid: cannot open SPI device /dev/spidev{bus}.{device}: "
                                  f"{exc}") from exc
            self.spi.max_speed_hz = spi_hz
            mode = self._gpio.getmode()
            if mode is None:
                self._gpio.setmode(self._gpio.BCM)
            elif mode != self._gpio.BCM:
                raise DeviceConfigError(f"rfid.rst_pin: GPIO numbering is already {mode} (BOARD); "
                                        "the RFID driver uses BCM numbering")
            self._gpio.setup(rst_pin, self._gpio.OUT)
            self._pin_ready = True
            self.hard_reset()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Switch the field off and release the SPI device and the RST pin. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self.chip_version is not None:
                    self.spi.xfer2([_w(_TX_CONTROL), 0x80])      # antenna off
            except OSError:
                pass
            self.spi.close()
            if self._pin_ready:
                self._gpio.cleanup(self.rst_pin)                  # only our pin, not every pin

    Close_MFRC522 = close

    def __enter__(self) -> "RfidReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _require_open(self) -> None:
        if self._closed:
            raise DeviceFault("rfid: the reader is closed")

    # ---------------------------------------------------------------------------- chip health
    def version(self) -> int:
        """The raw VersionReg value (0x91/0x92 genuine; 0x00/0xFF: nothing on the bus)."""
        with self._lock:
            self._require_open()
            return self.Read_MFRC522(_VERSION)

    def soft_reset(self) -> int:
        """SoftReset command, then our configuration; returns the checked chip version."""
        with self._lock:
            self._require_open()
            self.MFRC522_Init()
            return self._check_version()

    def hard_reset(self) -> int:
        """Pulse RST low then high (power-down and restart), then configure; returns the version."""
        with self._lock:
            self._require_open()
            self._gpio.output(self.rst_pin, 0)
            self._sleep(0.001)
            self._gpio.output(self.rst_pin, 1)
            self._sleep(0.005)                # oscillator start-up (datasheet: < 1 ms typical)
            self.MFRC522_Init()
            return self._check_version()

    def check(self) -> int:
        """Health probe: VersionReg, then our settings read back; a chip that lost them (reset by a
        brown-out) is re-initialised. Returns the version; raises DeviceFault if the chip is gone."""
        with self._lock:
            self._require_open()
            version = self._check_version()
            _, t_mode, prescaler, tx = self.spi.xfer2(
                [_r(_T_MODE), _r(_T_PRESCALER), _r(_TX_CONTROL), 0])
            if t_mode & 0x8F != 0x80 or prescaler != 169 or tx & 0x03 != 0x03:
                log.warning("rfid: MFRC522 lost its settings (TModeReg=0x%02X TxControlReg=0x%02X)"
                            "; re-initialising", t_mode, tx)
                self.MFRC522_Init()
            return version

    def _check_version(self) -> int:
        v = self.Read_MFRC522(_VERSION)
        if v in GENUINE_VERSIONS:
            pass
        elif v in CLONE_VERSIONS or v in self._accept:
            if self.chip_version != v:
                log.warning("rfid: VersionReg 0x%02X (%s): not a genuine NXP MFRC522; accepted",
                            v, CLONE_VERSIONS.get(v, "accepted by configuration"))
        else:
            what = "nothing answers" if v in (0x00, 0xFF) else "unknown chip"
            raise DeviceFault(f"rfid: VersionReg reads 0x{v:02X} on SPI {self.bus}.{self.device} "
                              f"({what})")
        self.chip_version = v
        return v

    def MFRC522_Init(self) -> None:  # noqa: N802 - the library's name
        """SoftReset and our settings: 25 us timer ticks with TAuto, 100 % ASK, CRC preset 6363,
        antenna on. Replaces the library's 15 ms timer that its wait loop never looked at."""
        self.MFRC522_Reset()
        for _ in range(50):                   # the chip ignores SPI until its oscillator runs
            if not self.Read_MFRC522(_COMMAND) & 0x10:
                break
            self._sleep(0.001)
        self.spi.xfer2([_w(_T_MODE), 0x80])
        self.spi.xfer2([_w(_T_PRESCALER), 169])
        self._timer_reload = None
        self._program_timer(SHORT_TIMEOUT_S)
        self.spi.xfer2([_w(_TX_ASK), 0x40])
        self.spi.xfer2([_w(_MODE), 0x3D])
        self.spi.xfer2([_w(_TX_CONTROL), 0x83])

    # -------------------------------------------------------------------------- the transport
    def _program_timer(self, timeout_s: float) -> None:
        reload = round(timeout_s / _TICK_S) - 1
        if reload != self._timer_reload:     # two transfers, only when the timeout changes
            self.spi.xfer2([_w(_T_RELOAD_H), reload >> 8])
            self.spi.xfer2([_w(_T_RELOAD_L), reload & 0xFF])
            self._timer_reload = reload

    def _start(self, command: int, data: bytes, timeout_s: float, bits: int = 0) -> None:
        self._program_timer(timeout_s)
        xfer = self.spi.xfer2
        xfer([_w(_COMMAND), _CMD_IDLE])
        xfer([_w(_COMM_IRQ), 0x7F])                       # clear every IRQ bit
        xfer([_w(_FIFO_LEVEL), 0x80])                     # flush
        xfer([_w(_FIFO_DATA), *data])                     # one burst for the whole frame
        xfer([_w(_COMMAND), command])
        if command == _CMD_TRANSCEIVE:
            xfer([_w(_BIT_FRAMING), 0x80 | bits])         # StartSend with the last byte's bits

    def _wait(self, done: int, timeout_s: float) -> int:
        """Wait for `done` IRQ bits, sleeping while the chip's timer runs. Returns ErrorReg."""
        start = self._monotonic()
        timer_end, guard = start + timeout_s, start + 2 * timeout_s + 0.02
        polls = 0
        while True:
            _, irq, err = self.spi.xfer2([_r(_COMM_IRQ), _r(_ERROR), 0])
            polls += 1
            if irq & 0x80:                                # Set1 reads 0 on a live chip
                self._check_version()
                raise DeviceFault(f"rfid: CommIrqReg reads 0x{irq:02X}: the chip is not sane")
            if irq & done:
                return err
            if irq & _TIMER_IRQ:
                raise _NoAnswer()
            now = self._monotonic()
            if now >= guard:
                self._check_version()
                raise DeviceFault("rfid: the MFRC522 raised no interrupt within "
                                  f"{guard - start:.3f} s (timer not running: chip reset?)")
            # First look at once (cards answer in microseconds), then 1 ms, then the timer's end.
            delay = 0.001 if polls == 1 else max(timer_end - now + 0.0003, 0.001)
            self._sleep(min(delay, guard - now))

    def _transceive(self, data: bytes, *, bits: int = 0,
                    timeout_s: float = SHORT_TIMEOUT_S) -> tuple[bytes, int]:
        """Send a frame, return (answer bytes, valid bits of the last byte, 0 = all 8)."""
        self._start(_CMD_TRANSCEIVE, data, timeout_s, bits)
        err = self._wait(_RX_IRQ, timeout_s)
        if err & 0x1F:
            raise CardReadError("rfid: " + ", ".join(n for b, n in _ERR_NAMES if err & b))
        _, level, control = self.spi.xfer2([_r(_FIFO_LEVEL), _r(_CONTROL), 0])
        n = level & 0x7F
        answer = bytes(self.spi.xfer2([_r(_FIFO_DATA)] * n + [0])[1:]) if n else b""
        return answer, control & 0x07

    def MFRC522_ToCard(self, command, sendData):  # noqa: N802,N803 - the library's names
        """The library's entry point, on our wait loop: (status, data, bit length)."""
        with self._lock:
            try:
                if command == self.PCD_AUTHENT:
                    self._authenticate_raw(bytes(sendData))
                    return self.MI_OK, [], 0
                bits = self.Read_MFRC522(_BIT_FRAMING) & 0x07
                data, last = self._transceive(bytes(sendData), bits=bits, timeout_s=LONG_TIMEOUT_S)
            except _NoAnswer:
                return self.MI_NOTAGERR, [], 0
            except CardReadError:
                return self.MI_ERR, [], 0
            length = (len(data) - 1) * 8 + last if last else len(data) * 8
            return self.MI_OK, list(data), length

    def CalulateCRC(self, pIndata):  # noqa: N802,N803 - the library's (misspelt) name
        """CRC_A on the host: same result as the chip's CalcCRC, no SPI traffic."""
        return list(mifare.crc_a(pIndata))

    # ------------------------------------------------------------------------- ISO 14443-3
    def read_uid(self) -> bytes | None:
        """One poll: wake any card (WUPA, so halted cards answer too), select it through every
        cascade level, HALT it. Returns the UID (4 or 7 bytes, no BCC) or None if no card."""
        with self._lock:
            self._require_open()
            try:
                self._wake()
                uid, _sak = self._select()
            except _NoAnswer:
                return None
            except CardReadError:
                self._halt()        # any frame sends a half-selected card to IDLE/HALT: WUPA-able
                raise
            self._halt()
            return uid

    def _wake(self) -> bytes:
        atqa, last = self._transceive(bytes((mifare.WUPA,)), bits=7)
        if len(atqa) != 2 or last:
            raise CardReadError(f"rfid: malformed ATQA {atqa.hex()} ({last} bits)")
        return atqa

    def _select(self) -> tuple[bytes, int]:
        uid = b""
        try:
            for level in mifare.CASCADE_LEVELS:
                part, _ = self._transceive(bytes((level, mifare.NVB_ANTICOLL)))
                if len(part) != 5 or mifare.bcc(part[:4]) != part[4]:
                    raise CardReadError(f"rfid: UID check byte (BCC) mismatch in {part.hex()}")
                frame = bytes((level, mifare.NVB_SELECT)) + part
                sak_frame, _ = self._transceive(frame + mifare.crc_a(frame))
                if len(sak_frame) != 3 or mifare.crc_a(sak_frame[:1]) != sak_frame[1:]:
                    raise CardReadError(f"rfid: SAK failed its CRC_A check ({sak_frame.hex()})")
                sak = sak_frame[0]
                if not sak & mifare.SAK_CASCADE_BIT:
                    if part[0] == mifare.CASCADE_TAG:
                        raise CardReadError("rfid: cascade tag in a complete UID")
                    return uid + part[:4], sak
                if part[0] != mifare.CASCADE_TAG:
                    raise CardReadError("rfid: SAK asks for another cascade level without a tag")
                uid += part[1:4]
        except _NoAnswer:
            raise CardReadError("rfid: the card stopped answering during selection "
                                "(left the field?)") from None
        raise CardReadError("rfid: UID longer than 10 bytes")

    def _halt(self) -> None:
        frame = bytes(mifare.HALT)
        try:
            self._transceive(frame + mifare.crc_a(frame))
        except (_NoAnswer, CardReadError):
            pass                                   # silence is HALT's success
        if self.Read_MFRC522(_STATUS2) & _MF_CRYPTO1_ON:
            self.MFRC522_StopCrypto1()

    def _activate(self, uid: bytes) -> None:
        try:
            self._wake()
            found, _ = self._select()
        except _NoAnswer:
            raise CardReadError(f"rfid: card {uid.hex().upper()} is not in the field") from None
        except CardReadError:
            self._halt()
            raise
        if found != bytes(uid):
            self._halt()
            raise CardReadError(f"rfid: card {found.hex().upper()} is in the field, "
                                f"not {uid.hex().upper()}")
