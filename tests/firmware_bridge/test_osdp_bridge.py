"""The OSDP bridge end to end: a libosdp peripheral on a pty, the real control panel, secure channel on."""
from __future__ import annotations

import os
import threading

import pytest

from drivers.errors import DeviceConfigError
from firmware_bridge.link_supervisor import LinkSupervisor
from firmware_bridge.osdp_panel import (FEEDBACK_PATTERNS, SCBK_DEFAULT, OsdpPanel, card_uid,
                                        decode_keys, load_scbk)
from firmware_bridge.pd_emulator import open_emulated_keypad
from firmware_bridge.serial_channel import SerialChannel

WAIT = 5.0  # generous: CI has 2 busy cores; a healthy link answers in < 0.5 s


class Recorder:
    """Collects the panel's callbacks; tests wait on conditions, never sleep."""

    def __init__(self):
        self.cond = threading.Condition()
        self.keys: list[str] = []
        self.cards: list[str] = []
        self.tamper: list[bool] = []
        self.link: list[bool] = []

    def _add(self, lst, value):
        with self.cond:
            lst.append(value)
            self.cond.notify_all()

    def callbacks(self) -> dict:
        return dict(on_key=lambda k: self._add(self.keys, k),
                    on_card=lambda c: self._add(self.cards, c),
                    on_tamper=lambda t: self._add(self.tamper, t),
                    on_link=lambda up: self._add(self.link, up))

    def wait(self, predicate, timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


@pytest.fixture
def scbk():
    return os.urandom(16)


@pytest.fixture
def rig(scbk):
    emulator, port = open_emulated_keypad(scbk=scbk)
    rec = Recorder()
    panel = OsdpPanel(port, scbk=scbk, offline_after_s=1.0, retry_s=0.5, **rec.callbacks())
    panel.start()
    try:
        assert rec.wait(lambda: rec.link == [True]), "peripheral never came online"
        yield emulator, panel, rec
    finally:
        panel.close()
        emulator.close()


def test_link_comes_up_with_secure_channel(rig):
    emulator, panel, rec = rig
    assert panel.is_online is True
    assert panel.is_secure
    assert emulator.is_online


def test_keys_travel_from_peripheral_to_panel(rig):
    emulator, _, rec = rig
    emulator.press_keys("1234#")
    emulator.press_keys("9*")
    assert rec.wait(lambda: len(rec.keys) >= 7)
    assert "".join(rec.keys) == "1234#9*"


def test_card_read_travels_as_uppercase_hex(rig):
    emulator, _, rec = rig
    emulator.present_card("04:a1:b2:c3:d4:e5:f6")
    assert rec.wait(lambda: rec.cards)
    assert rec.cards == ["04A1B2C3D4E5F6"]


def test_tamper_report_and_clear(rig):
    emulator, _, rec = rig
    emulator.set_tamper(True)
    assert rec.wait(lambda: rec.tamper == [True])
    emulator.set_tamper(True)  # repeated report: not news
    emulator.set_tamper(False)
    assert rec.wait(lambda: rec.tamper == [True, False])


@pytest.mark.parametrize("pattern", sorted(FEEDBACK_PATTERNS))
def test_feedback_travels_from_panel_to_peripheral(rig, pattern):
    emulator, panel, _ = rig
    assert panel.send_feedback(pattern) is True
    assert emulator.wait_for_pattern(pattern, WAIT)
    assert emulator.wait_for_feedback(2, WAIT)
    kinds = [c["command"] for c in emulator.feedback]
    assert kinds == [c["command"] for c in FEEDBACK_PATTERNS[pattern]]  # LED then buzzer


def test_unknown_feedback_pattern_is_refused_by_name(rig):
    _, panel, _ = rig
    with pytest.raises(ValueError, match="'party'"):
        panel.send_feedback("party")


def test_unplug_reports_offline_within_ten_seconds_and_recovers(rig):
    emulator, panel, rec = rig
    emulator.unplug()
    assert rec.wait(lambda: rec.link == [True, False], timeout=10.0)
    assert panel.is_online is False
    assert panel.send_feedback("granted") is False  # not queued to be shown stale later
    emulator.replug()
    assert rec.wait(lambda: rec.link == [True, False, True], timeout=10.0)
    assert rec.wait(lambda: panel.is_secure)
    emulator.press_keys("42#")
    assert rec.wait(lambda: "".join(rec.keys) == "42#")
    assert panel.send_feedback("refused") is True
    assert emulator.wait_for_pattern("refused", WAIT)
    assert emulator.wait_for_feedback(2, WAIT)
    led_colors = [c["on_color"] for c in emulator.feedback if "on_color" in c]
    assert led_colors == [FEEDBACK_PATTERNS["refused"][0]["on_color"]]  # no stale "granted"


def test_silent_peripheral_reports_offline(rig):
    """Cable intact, firmware hung: the line goes quiet."""
    emulator, panel, rec = rig
    emulator.hang()  # the peripheral stops answering; the pty stays open
    try:
        assert rec.wait(lambda: rec.link == [True, False], timeout=10.0)
    finally:
        emulator.resume()
    assert rec.wait(lambda: rec.link == [True, False, True], timeout=10.0)


def test_garbage_on_the_line_resyncs(rig):
    emulator, panel, rec = rig
    torn_frame = bytes([0x53, 0xE5, 0x40, 0x00, 0x0C])  # SOM, reply address, length 64: never completed
    noise = bytes(range(256)) + b"\xff\x00" * 20 + torn_frame + os.urandom(64)
    for i in range(5):
        emulator.inject_noise(noise)
        emulator.press_keys(str(i))
    emulator.inject_noise(torn_frame)
    emulator.press_keys("#")
    emulator.present_card("DEADBEEF")
    assert rec.wait(lambda: len(rec.keys) >= 6 and rec.cards)
    assert "".join(rec.keys) == "01234#"  # nothing lost, nothing invented
    assert rec.cards == ["DEADBEEF"]
    assert panel.is_secure


def test_wrong_key_never_comes_online_and_delivers_nothing(scbk):
    emulator, port = open_emulated_keypad(scbk=scbk)
    rec = Recorder()
    wrong = bytes(b ^ 0xFF for b in scbk)
    with emulator, OsdpPanel(port, scbk=wrong, offline_after_s=1.0, retry_s=0.5,
                             **rec.callbacks()) as panel:
        panel.start()
        emulator.press_keys("1234#")
        assert rec.wait(lambda: rec.link == [False])
        assert rec.keys == []
        assert not panel.is_secure


def test_close_is_safe_twice_and_start_after_close_is_refused(scbk):
    emulator, port = open_emulated_keypad(scbk=scbk)
    rec = Recorder()
    panel = OsdpPanel(port, scbk=scbk, **rec.callbacks())
    panel.start()
    panel.close()
    panel.close()
    emulator.close()
    emulator.close()
    with pytest.raises(RuntimeError, match="closed"):
        panel.start()
    assert not os.path.lexists(port)


def test_bad_constructor_arguments_name_the_problem():
    rec = Recorder()
    with pytest.raises(DeviceConfigError, match="pd_address"):
        OsdpPanel("/dev/null", pd_address=127, **rec.callbacks())
    with pytest.raises(DeviceConfigError, match="16 bytes"):
        OsdpPanel("/dev/null", scbk=b"short", **rec.callbacks())


# -- pure helpers --

def test_decode_keys_maps_osdp_bytes():
    assert decode_keys(b"12\x7f\x0d*#\x01A") == "12*#*#"


def test_card_uid():
    assert card_uid({"data": b"\x04\xa1"}) == "04A1"
    assert card_uid({}) == ""


# -- the key file --

def _key_file(tmp_path, text, mode=0o600):
    p = tmp_path / "osdp.key"
    p.write_text(text)
    p.chmod(mode)
    return p


def test_load_scbk_reads_hex_key(tmp_path):
    key = os.urandom(16)
    assert load_scbk(_key_file(tmp_path, f"  {key.hex()}\n")) == key


@pytest.mark.parametrize("text, mode, problem", [
    (os.urandom(16).hex(), 0o644, "others than its owner can use it"),
    ("not hex at all", 0o600, "not hexadecimal"),
    ("abcd", 0o600, "2 bytes, expected 16"),
    (SCBK_DEFAULT.hex(), 0o600, "well-known"),
    ("00" * 16, 0o600, "well-known or trivial"),
])
def test_load_scbk_rejects_bad_files_naming_them(tmp_path, text, mode, problem):
    p = _key_file(tmp_path, text, mode)
    with pytest.raises(DeviceConfigError) as err:
        load_scbk(p)
    assert str(p) in str(err.value) and problem in str(err.value)


def test_load_scbk_missing_file(tmp_path):
    with pytest.raises(DeviceConfigError, match="osdp.key: cannot read"):
        load_scbk(tmp_path / "osdp.key")


# -- the serial channel --

def test_serial_channel_survives_a_missing_port_and_reopens(tmp_path):
    now = [0.0]
    errors, reopened = [], []
    link = tmp_path / "ttyOSDP"
    ch = SerialChannel(str(link), reopen_interval_s=1.0, monotonic=lambda: now[0],
                       on_error=errors.append, on_reopen=lambda: reopened.append(True))
    assert not ch.is_open and len(errors) == 1 and str(link) in str(errors[0])
    assert ch.read(10) == b"" and ch.write(b"abc") == 3  # a wire with nobody on it
    master, slave = os.openpty()
    try:
        os.symlink(os.ttyname(slave), link)
        assert ch.read(10) == b"" and not ch.is_open  # not before the reopen interval
        now[0] = 1.5
        ch.read(10)
        assert ch.is_open and reopened == [True]
        assert len(errors) == 1  # one report per outage, not one per retry
        os.write(master, b"\x53")
        assert _read_eventually(ch) == b"\x53" and ch.last_rx == 1.5
    finally:
        ch.close()
        ch.close()
        os.close(master)
        os.close(slave)


def _read_eventually(ch, attempts=200):
    for _ in range(attempts):
        data = ch.read(10)
        if data:
            return data
        threading.Event().wait(0.005)
    return b""


# -- link supervision (pure) --

def test_supervisor_declares_online_then_offline_after_silence():
    sup = LinkSupervisor(offline_after_s=8.0)
    assert sup.observe(0.0, pd_online=False, last_rx=None).changed is None
    assert sup.observe(0.3, pd_online=True, last_rx=0.3).changed is True
    assert sup.observe(5.0, pd_online=True, last_rx=5.0).changed is None
    # the peripheral falls silent at 5.0; libosdp still believes it online for a while
    assert sup.observe(12.9, pd_online=True, last_rx=5.0).changed is None
    assert sup.observe(13.0, pd_online=True, last_rx=5.0).changed is False
    assert sup.observe(14.0, pd_online=False, last_rx=5.0).changed is None
    assert sup.observe(20.0, pd_online=True, last_rx=20.0).changed is True


def test_supervisor_reports_a_peripheral_that_never_came_up():
    sup = LinkSupervisor(offline_after_s=8.0)
    assert sup.observe(100.0, pd_online=False, last_rx=None).changed is None
    assert sup.observe(108.0, pd_online=False, last_rx=None).changed is False


def test_supervisor_kicks_libosdp_every_retry_interval_while_offline():
    sup = LinkSupervisor(offline_after_s=8.0, retry_s=2.0)
    kicks = [t / 4 for t in range(0, 41) if sup.observe(t / 4, pd_online=False, last_rx=None).kick]
    assert kicks == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert sup.observe(10.25, pd_online=True, last_rx=10.25).kick is False


def test_supervisor_rejects_nonsense_settings():
    with pytest.raises(ValueError, match="offline_after_s"):
        LinkSupervisor(offline_after_s=0)
