"""The DC-09 frame against pysiaalarm, an independent receiver implementation: every frame we build
is parsed, CRC-checked, decrypted and ACKed by it, and we parse its answers back."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.core.errors import InputError
from gate.dc09.events import EVENT_CODES, report_for
from gate.dc09.frame import (AnswerError, Cipher, FrameReader, MAX_FRAME, Message, crc16_arc, next_seq,
                             parse_answer, timestamp)

pysia = pytest.importorskip("pysiaalarm")
from pysiaalarm import SIAAccount  # noqa: E402
from pysiaalarm.base_server import BaseSIAServer  # noqa: E402
from pysiaalarm.utils import Counter, ResponseType  # noqa: E402

KEYS = {"aes128": "0123456789ABCDEF", "aes192": "0123456789ABCDEF01234567",
        "aes256": "0123456789ABCDEF0123456789ABCDEF"}


def receiver(key: str | None = None, account: str = "1234") -> BaseSIAServer:
    return BaseSIAServer({account: SIAAccount(account, key)}, Counter())


def parse(server: BaseSIAServer, frame: bytes):
    assert frame[:1] == b"\n" and frame[-1:] == b"\r"
    return server.parse_and_check_event(frame[1:-1])


def test_crc16_arc_check_value():
    assert crc16_arc(b"123456789") == 0xBB3D  # the CRC-16/ARC catalogue check value


def test_plain_frame_layout():
    now = datetime(2026, 12, 2, 6, 30, 5, tzinfo=timezone.utc)
    frame = Message("ADM-CID", 42, "1234", "#1234|1423 01 001").encode(now)
    body = b'"ADM-CID"0042R0L0#1234[#1234|1423 01 001]_06:30:05,12-02-2026'
    assert frame == b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"


@pytest.mark.parametrize("key", [None, *KEYS.values()], ids=["plain", *KEYS])
@pytest.mark.parametrize("alarm, cid, sia", [("forced_open", "423", "DF"), ("duress", "121", "HA"),
                                             ("tamper", "137", "TA")])
def test_pysiaalarm_accepts_our_frames(key, alarm, cid, sia):
    server = receiver(key)
    cipher = Cipher(key.encode()) if key else None
    now = datetime.now(timezone.utc)
    adm = report_for({"type": alarm, "guard": "7"}, "1234", "ADM-CID")
    ev = parse(server, Message(adm.token, 17, "1234", adm.data).encode(now, cipher))
    assert (ev.valid_message, ev.response, ev.event_type, ev.event_qualifier, ev.code) == (True, ResponseType.ACK, cid, "1", sia)
    assert ev.account == "1234" and ev.sequence == "0017" and bool(ev.encrypted) == bool(key)
    dcs = report_for({"type": alarm}, "1234", "SIA-DCS")
    ev = parse(server, Message(dcs.token, 18, "1234", dcs.data).encode(now, cipher))
    assert (ev.valid_message, ev.response, ev.code) == (True, ResponseType.ACK, sia)
    # Its answer, parsed back: an ACK for our sequence and account, encrypted when we were.
    ans = parse_answer(ev.create_response(), cipher)
    assert (ans.kind, ans.seq, ans.account, ans.encrypted) == ("ACK", 18, "1234", bool(key))


@pytest.mark.parametrize("key", [None, KEYS["aes128"]])
def test_null_message_is_a_link_test(key):
    ev = parse(receiver(key), Message("NULL", 3, "1234", "").encode(datetime.now(timezone.utc),
                                                                   Cipher(key.encode()) if key else None))
    assert ev.response == ResponseType.ACK and ev.message_type.value == "NULL" and ev.code == "RP"


def test_restore_uses_qualifier_3_and_the_sia_restore():
    cleared = {"type": "alarm_cleared", "alarm": "tamper", "device": "enclosure"}
    adm = report_for(cleared, "1234", "ADM-CID")
    assert adm.data == "#1234|3137 01 001"
    ev = parse(receiver(), Message(adm.token, 5, "1234", adm.data).encode(datetime.now(timezone.utc)))
    assert (ev.event_qualifier, ev.event_type, ev.code) == ("3", "137", "TR")
    assert report_for(cleared, "1234", "SIA-DCS").data == "#1234|Nri1/TR001"
    assert report_for({"type": "alarm_cleared", "alarm": "keypad_lockout"}, "1234") is None
    assert report_for({"type": "access_granted"}, "1234") is None


def test_every_mapped_code_is_known_to_the_receiver():
    """Each Contact ID code of the map is parsed; each SIA code is one pysiaalarm knows (else DUH)."""
    from pysiaalarm.data.sia_codes import SIA_CODES

    for name, code in EVENT_CODES.items():
        assert code.sia in SIA_CODES, name
        assert code.sia_restore is None or code.sia_restore in SIA_CODES, name


def test_zone_and_user_numbers():
    assert report_for({"type": "duress", "guard": "guard-12"}, "1234").data == "#1234|1121 01 012"
    assert report_for({"type": "duress", "guard": "wang"}, "1234", users={"wang": 5}).data == "#1234|1121 01 005"
    assert report_for({"type": "tamper", "device": "osdp-2"}, "1234").data == "#1234|1137 01 002"
    assert report_for({"type": "tamper", "device": "keypad"}, "1234", zones={"keypad": 9}).data == "#1234|1137 01 009"


def test_encrypted_padding_makes_whole_blocks_and_never_uses_the_separators():
    seen = set()
    for n in range(40):  # data lengths across several block boundaries
        cipher = Cipher(KEYS["aes128"].encode())
        frame = Message("SIA-DCS", 1, "1234", "#1234|Nri1/DF" + "0" * n).encode(datetime.now(timezone.utc), cipher)
        hexpart = frame.split(b"[", 1)[1][:-1]
        clear = cipher.decrypt(bytes.fromhex(hexpart.decode()))
        pad = clear[: clear.index(b"|")]
        assert len(clear) % 16 == 0 and 1 <= len(pad) <= 16 and not set(pad) & set(b"|[]")
        seen.add(len(pad))
    assert 16 in seen  # a region already of whole blocks gets a full block of pad


def test_sequence_rolls_over_from_9999_to_0001():
    assert next_seq(9999) == 1 and next_seq(1) == 2
    with pytest.raises(InputError):
        Message("ADM-CID", 0, "1234", "").encode(datetime.now(timezone.utc))


@pytest.mark.parametrize("bad", ["12", "12345678901234567", "12G4", ""])
def test_bad_accounts_are_refused(bad):
    with pytest.raises(InputError, match="account"):
        Message("ADM-CID", 1, bad, "").encode(datetime.now(timezone.utc))


def test_bad_keys_are_refused():
    with pytest.raises(InputError, match="16, 24 or 32 hex"):
        Cipher(b"short")


def test_answers_nak_duh_and_garbage():
    nak = receiver().parse_and_check_event(b"")  # nothing: no answer at all
    assert nak is None
    # A NAK for a stale timestamp carries the receiver's time.
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    server = receiver()
    ev = parse(server, Message("ADM-CID", 9, "1234", "#1234|1423 01 001").encode(old))
    assert ev.response == ResponseType.NAK
    ans = parse_answer(ev.create_response())
    assert ans.kind == "NAK" and ans.seq == 0 and abs((ans.receiver_time - datetime.now(timezone.utc)).total_seconds()) < 5
    duh = parse(server, Message("SIA-DCS", 4, "1234", "#1234|Nri1/AD001").encode(datetime.now(timezone.utc)))
    assert parse_answer(duh.create_response()).kind == "DUH"
    for garbage in (b"hello", b"FFFF0014\"ACK\"0007R0L0#1234[]", b"\x00" * 50, b"0000" * 400):
        with pytest.raises(AnswerError):
            parse_answer(garbage)


def test_frame_reader_bounds_its_buffer():
    r = FrameReader()
    assert r.feed(b"x" * (MAX_FRAME + 10)) != [] and r.feed(b"\nABC\r\nDE") == [b"ABC"]
    assert r.feed(b"F\r") == [b"DEF"]


def test_timestamp_is_utc():
    assert timestamp(datetime(2026, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))) == "_03:04:05,01-02-2026"
