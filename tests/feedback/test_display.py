"""The display: frames drawn with the CJK font, luma's dummy device, the screen's timing (an
outcome with the masked name and temperature for display_seconds, then the idle prompt)."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from gatefixture import wait_for

from drivers.display import Display, find_font
from drivers.errors import DeviceConfigError, DeviceFault
from gate.core.prompts import MESSAGE_IDS
from gate.feedback.frames import render, wrap
from gate.feedback.screen import Screen
from gate.i18n import text

try:
    FONT = find_font()
except DeviceConfigError:  # .ci/run installs fonts-wqy-zenhei
    FONT = None
needs_font = pytest.mark.skipif(FONT is None, reason="fonts-wqy-zenhei not installed")


def _glyph(font, ch: str) -> bytes:
    image = Image.new("1", (20, 20), 0)
    ImageDraw.Draw(image).text((2, 2), ch, font=font, fill=1)
    return image.tobytes()


@needs_font
def test_every_chinese_character_of_the_vocabulary_has_a_glyph():
    """No tofu: each character draws something, and not the font's 'missing glyph' box."""
    font = ImageFont.truetype(str(FONT), 16)
    missing = _glyph(font, "\U0010fffd")  # a private-use code point no font draws
    chars = {ch for m in MESSAGE_IDS for ch in text(m, "zh-CN") if not ch.isascii()} | set("王明°")
    blank = bytes(len(missing))
    for ch in sorted(chars):
        drawn = _glyph(font, ch)
        assert drawn != blank and drawn != missing, f"{ch!r} (U+{ord(ch):04X}) has no glyph in {FONT}"


@needs_font
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_message_fits_on_the_128x64_glass(lang):
    for message_id in MESSAGE_IDS:
        message = text(message_id, lang)
        image, lines = render(message, "王*明  36.6°C", FONT)
        assert image.size == (128, 64) and image.mode == "1"
        assert "".join(lines[:-1]).replace(" ", "") == message.replace(" ", ""), f"{message_id}: text cut"


def test_wrapping_breaks_after_punctuation_and_between_scripts():
    measure = lambda s: 16 * len(s)  # a fixed-width font of 16 px per character
    assert wrap("体温异常，请联系门卫复测", 128, measure) == ["体温异常，", "请联系门卫复测"]
    assert wrap("请刷卡 Tap your pass", 128, lambda s: 8 * len(s)) == ["请刷卡", "Tap your pass"]
    assert wrap("a b c", 128, measure) == ["a b c"]


@needs_font
def test_the_dummy_display_keeps_the_frame_it_was_shown():
    image, _ = render(text("granted", "zh-CN"), "王*明  36.6°C", FONT)
    with Display("dummy") as display:
        assert display.size == (128, 64)
        display.show(image)
        assert display.frame.tobytes() == image.tobytes()


def test_a_display_that_is_not_there_is_named():
    with pytest.raises(DeviceConfigError, match="unknown type"):
        Display("st7789")
    with pytest.raises(DeviceFault, match="I2C bus 99 address 0x3c"):
        Display("ssd1306", i2c_bus=99)
    with pytest.raises(DeviceConfigError, match="fonts-wqy-zenhei"):
        find_font("/nonexistent/font.ttc")


@needs_font
def test_an_outcome_leaves_the_glass_after_its_time():
    with Display("dummy") as display:
        screen = Screen(display, FONT, lambda: text("idle", "en"), hold_seconds=0.3).start()
        try:
            assert screen.text == "Tap your pass"
            screen.show(text("granted", "en"), "W*** 36.6°C")
            wait_for(lambda: "W*** 36.6°C" in screen.text, 5, "the outcome shown")
            wait_for(lambda: screen.text == "Tap your pass", 5, "the idle prompt again")
            idle, _ = render("Tap your pass", None, FONT)
            assert display.frame.tobytes() == idle.tobytes()  # the name is gone from the pixels too
        finally:
            screen.close()
