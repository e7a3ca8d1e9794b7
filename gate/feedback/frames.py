"""A message as a 128×64 monochrome frame: the text wrapped to the width, the largest font size
that fits, an optional detail line (masked name, temperature) at the bottom."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

BREAK_AFTER = "，。、；：！？,.;:!?"  # a CJK line breaks after punctuation when it can
SIZES = (16, 14, 12)
DETAIL_H = 17  # the bottom line (name, temperature) and the rule above it  # pixel heights tried in turn; 12 px is the smallest WenQuanYi keeps legible


@lru_cache(maxsize=8)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def wrap(text: str, width: int, measure) -> list[str]:
    """Greedy wrap: whole words where there are spaces, else characters (CJK), breaking after
    punctuation when the line has some; a Latin word after a CJK one starts a new line
    ("请刷卡 Tap your pass" is two lines, one per language)."""
    lines: list[str] = []
    for word in text.split():
        script_change = bool(lines) and not lines[-1][-1:].isascii() and word.isascii()
        if lines and not script_change and measure(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
            continue
        line = ""
        lines.append(line)
        for ch in word:
            if measure(line + ch) <= width or not line:
                line += ch
                lines[-1] = line
                continue
            cut = max((line.rfind(p) for p in BREAK_AFTER), default=-1)
            if 0 <= cut < len(line) - 1:
                lines[-1], line = line[:cut + 1], line[cut + 1:] + ch
            else:
                line = ch
            lines.append(line)
    return [line for line in lines if line]


def render(message: str, detail: str | None, font_path: Path, size=(128, 64)):
    """The frame for `message` (and `detail` on the last line). Returns (PIL image, shown lines)."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("1", size, 0)
    draw = ImageDraw.Draw(image)
    for px in SIZES:
        font = _font(str(font_path), px)
        line_h = px + 1
        rows = (height - (DETAIL_H if detail else 0)) // line_h
        lines = wrap(message, width, lambda s: draw.textlength(s, font=font))
        if len(lines) <= rows:
            break
    lines = lines[:rows]
    text_block = len(lines) * line_h
    top = max(0, (height - (DETAIL_H if detail else 0) - text_block) // 2)
    for i, line in enumerate(lines):
        x = max(0, (width - int(draw.textlength(line, font=font))) // 2)
        draw.text((x, top + i * line_h), line, font=font, fill=1)
    shown = list(lines)
    if detail:
        dfont = _font(str(font_path), 14)
        x = max(0, (width - int(draw.textlength(detail, font=dfont))) // 2)
        draw.line((0, height - DETAIL_H, width - 1, height - DETAIL_H), fill=1)
        draw.text((x, height - 15), detail, font=dfont, fill=1)
        shown.append(detail)
    return image, shown
