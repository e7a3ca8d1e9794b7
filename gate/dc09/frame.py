"""The DC-09 frame (ANSI/SIA DC-09-2013 §5.5): building messages and parsing the receiver's answers.

    <LF><crc><0LLL>"<id>"<seq>R<rcvr>L<pref>#<acct>[<data>]_<HH:MM:SS,MM-DD-YYYY><CR>

`crc` is CRC-16/ARC of everything from the opening quote of the id token to the end of the
timestamp, as four upper-case hex digits; `0LLL` the length of that same span in hex. Encrypted
(`"*ADM-CID"`): the part after `[` — pad, `|`, data, `]`, timestamp — is AES-CBC encrypted with a
zero IV and sent as upper-case hex; pad bytes make it a multiple of 16 (1–16 of them, never `|`,
`[` or `]`). Timestamps are UTC.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from gate.core.errors import InputError

LF, CR = b"\n", b"\r"
MAX_FRAME = 1024  # a receiver's answer longer than this is garbage (a real ACK is ~40-80 bytes)
TOKENS = ("ADM-CID", "SIA-DCS", "NULL")
ANSWERS = ("ACK", "NAK", "DUH", "RSP")
_ACCOUNT = re.compile(r"^[0-9A-F]{3,16}$")
_PREFIX = re.compile(r"^[0-9A-F]{1,6}$")
_TS = "%H:%M:%S,%m-%d-%Y"


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0, no final xor), as DC-09 §5.5.1.2 asks."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def timestamp(moment: datetime) -> str:
    """`_HH:MM:SS,MM-DD-YYYY` in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return "_" + moment.astimezone(timezone.utc).strftime(_TS)


def parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.lstrip("_"), _TS).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def check_account(account: str) -> str:
    """The account as DC-09 wants it: 3-16 hex characters (upper case). InputError otherwise."""
    acct = str(account).upper()
    if not _ACCOUNT.match(acct):
        raise InputError(f"account {account!r}: must be 3 to 16 hex characters")
    return acct


def check_prefix(what: str, value: str) -> str:
    v = str(value).upper()
    if not _PREFIX.match(v):
        raise InputError(f"{what} {value!r}: must be 1 to 6 hex characters")
    return v


def check_key(key: bytes) -> bytes:
    """The receiver's key: the ASCII bytes of its 16, 24 or 32 hex characters (AES-128/192/256)."""
    text = key.decode("ascii", "replace").strip() if isinstance(key, bytes) else str(key).strip()
    if len(text) not in (16, 24, 32) or not re.fullmatch(r"[0-9A-Fa-f]+", text):
        raise InputError("key: must be 16, 24 or 32 hex characters (as the receiver shows it)")
    return text.encode("ascii")


class Cipher:
    """AES-CBC with a zero IV (DC-09 §5.4.6) over the key's ASCII bytes. `cryptography` is imported
    here, so a gate without encrypted receivers never needs it."""

    def __init__(self, key: bytes):
        from cryptography.hazmat.primitives.ciphers import Cipher as _C, algorithms, modes

        self._key = check_key(key)
        self._make = lambda: _C(algorithms.AES(self._key), modes.CBC(bytes(16)))

    def encrypt(self, plain: bytes) -> bytes:
        enc = self._make().encryptor()
        return enc.update(plain) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes:
        dec = self._make().decryptor()
        return dec.update(data) + dec.finalize()


def pad_bytes(n: int, rand=os.urandom) -> bytes:
    """`n` pseudo-random pad bytes, none of them `|`, `[` or `]` (§5.4.4.2)."""
    out = bytearray()
    while len(out) < n:
        out += bytes(b for b in rand(n * 2) if b not in (0x7C, 0x5B, 0x5D))
    return bytes(out[:n])


@dataclass(frozen=True)
class Message:
    """One premises message. `data` is what goes between `[` and `]` (for ADM-CID
    `#ACCT|QEEE GG ZZZ`; for NULL empty)."""

    token: str
    seq: int
    account: str
    data: str
    receiver: str = "0"
    line: str = "0"

    def encode(self, moment: datetime, cipher: Cipher | None = None, rand=os.urandom) -> bytes:
        """The whole frame, LF to CR, stamped `moment` (UTC)."""
        if self.token not in TOKENS:
            raise InputError(f"id token {self.token!r}: one of {', '.join(TOKENS)}")
        if not 1 <= self.seq <= 9999:
            raise InputError(f"sequence {self.seq}: must be 0001-9999")
        if any(c in self.data for c in "[]\r\n") or not self.data.isascii():
            raise InputError(f"data {self.data!r}: ASCII without brackets or line ends")
        head = (f'"{"*" if cipher else ""}{self.token}"{self.seq:04d}R{self.receiver}L{self.line}'
                f"#{check_account(self.account)}[")
        tail = f"{self.data}]{timestamp(moment)}"
        if cipher is None:
            body = (head + tail).encode("ascii")
        else:
            clear = ("|" + tail).encode("ascii")
            clear = pad_bytes(16 - len(clear) % 16, rand) + clear  # 1-16 pad bytes, 16 when already even
            body = head.encode("ascii") + cipher.encrypt(clear).hex().upper().encode("ascii")
        return LF + f"{crc16_arc(body):04X}{len(body):04X}".encode("ascii") + body + CR


def next_seq(seq: int) -> int:
    """The sequence after `seq`: 0001..9999, then 0001 again."""
    return 1 if seq >= 9999 else seq + 1


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: `kind` ACK/NAK/DUH/RSP, the echoed sequence and account, the receiver's
    timestamp when it sent one (a NAK always does), `encrypted` when it came as `"*ACK"`."""

    kind: str
    seq: int
    account: str | None
    receiver_time: datetime | None
    encrypted: bool

    def matches(self, seq: int, account: str) -> bool:
        return self.seq == seq and (self.account or "").upper() == account.upper()


_ANSWER = re.compile(
    r'^"(?P<star>\*)?(?P<kind>ACK|NAK|DUH|RSP)"(?P<seq>\d{4})(?:R(?P<rcvr>[0-9A-Fa-f]{1,6}))?'
    r"(?:L(?P<line>[0-9A-Fa-f]{1,6}))?(?:#(?P<acct>[0-9A-Fa-f]{3,16})|A\d+)?\[(?P<rest>.*)$", re.S)


class AnswerError(ValueError):
    """Bytes from a receiver that are not a valid DC-09 answer (the message says why)."""


def parse_answer(frame: bytes, cipher: Cipher | None = None) -> Answer:
    """Parse one answer frame (LF..CR, or without them). AnswerError for a bad CRC, length or form."""
    raw = frame.strip(b"\r\n\x00 ")
    if len(raw) < 9 or len(raw) > MAX_FRAME:
        raise AnswerError(f"answer of {len(raw)} bytes")
    try:
        crc, length, body = int(raw[:4], 16), int(raw[4:8], 16), raw[8:]
    except ValueError:
        raise AnswerError("answer does not start with a CRC and length in hex") from None
    if crc16_arc(body) != crc:
        raise AnswerError(f"answer CRC {raw[:4].decode('ascii', 'replace')} does not match "
                          f"{crc16_arc(body):04X}")
    if length != len(body):
        raise AnswerError(f"answer length {length} but {len(body)} bytes")
    text = body.decode("ascii", "replace")
    m = _ANSWER.match(text)
    if not m:
        raise AnswerError(f"not an ACK/NAK/DUH: {text[:60]!r}")
    rest = m["rest"]
    if m["star"]:
        if cipher is None:
            raise AnswerError("encrypted answer but no key")
        hexpart = re.match(r"[0-9A-Fa-f]*", rest).group(0)
        if not hexpart or len(hexpart) % 32:
            raise AnswerError("encrypted answer is not whole AES blocks in hex")
        clear = cipher.decrypt(bytes.fromhex(hexpart)).decode("ascii", "ignore")
        # The pad ends at '|' (the standard); some receivers pad with '0's and no '|'.
        rest = clear.split("|", 1)[1] if "|" in clear else clear[clear.find("]"):] if "]" in clear else clear
    ts = None
    if "]" in rest:
        ts = parse_timestamp(rest.rsplit("]", 1)[1].split("[")[0]) if "_" in rest else None
    return Answer(m["kind"], int(m["seq"]), m["acct"].upper() if m["acct"] else None, ts, bool(m["star"]))


class FrameReader:
    """Splits a byte stream into answer frames at CR, with a bounded buffer (a receiver that sends
    endless bytes without a CR costs at most MAX_FRAME of memory)."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames = []
        while CR in self._buf:
            frame, self._buf = self._buf.split(CR, 1)
            frame = frame.lstrip(b"\n")
            if frame:
                frames.append(frame)
        if len(self._buf) > MAX_FRAME:
            frames.append(self._buf)  # handed on as garbage, so the caller sees and counts it
            self._buf = b""
        return frames
