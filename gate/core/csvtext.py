"""Strict CSV rows for the pass and household imports: one physical line is one row.

A field can never hold a line break, so a quote left open (a stray `"` at the start of a field, an
unterminated quote) is an error naming its line, never a row that swallows the lines after it.
Each line is parsed on its own with `csv`'s strict mode: `a,"b` (unterminated) and `a,"b"c`
(text after a closing quote) are refused with the line number. NUL and other control characters
are refused too (they cannot be typed into a name and hide text on screens).
"""
from __future__ import annotations

import csv
import re

from gate.core.errors import InputError

MAX_LINE_CHARS = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def csv_rows(text: str, source: str = "CSV") -> list[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank line of `text`, the header included."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        where = f"{source} line {number}"
        if len(line) > MAX_LINE_CHARS:
            raise InputError(f"{where}: longer than {MAX_LINE_CHARS} characters")
        bad = _CONTROL.search(line)
        if bad:
            raise InputError(f"{where}: control character U+{ord(bad.group()):04X} in column "
                             f"{bad.start() + 1} (NUL, a tab or a stray line break inside a field?)")
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            reason = str(exc)
            if "unexpected end of data" in reason:
                reason = "a quoted field is not closed on this line (a stray or unbalanced quote?)"
            elif "expected after" in reason:
                reason = "text after a closing quote (a stray quote? write a quote inside a quoted field as \"\")"
            raise InputError(f"{where}: {reason}") from None
        rows.append((number, fields))
    return rows


def csv_records(text: str, source: str, columns: tuple[str, ...], required: tuple[str, ...],
                what: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped value}) for every data row, after checking the header."""
    rows = csv_rows(text, source)
    if not rows:
        raise InputError(f"{source} line 1: empty file, expected a header row with {what}")
    header_line, raw_header = rows[0]
    header = [h.strip() for h in raw_header]
    unknown = [h for h in header if h not in columns]
    if unknown:
        raise InputError(f"{source} line {header_line}: unknown column(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(columns)}")
    for name in required:
        if name not in header:
            raise InputError(f"{source} line {header_line}: missing required column {name!r}")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise InputError(f"{source} line {header_line}: column(s) given twice: {', '.join(twice)}")
    out = []
    for number, fields in rows[1:]:
        if len(fields) > len(header):
            raise InputError(f"{source} line {number}: more fields than the header has "
                             f"({len(fields)} for {len(header)})")
        values = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(header)}
        out.append((number, values))
    return out


ENCODINGS = ("auto", "utf-8", "gb18030")


def decode_csv(data: bytes, source: str, encoding: str = "auto") -> tuple[str, str]:
    """(text, encoding name). auto: UTF-8 (with or without BOM), else GB18030 (a superset of GBK and
    GB2312, what Chinese spreadsheet programs save). Text that is only GB18030 by accident (a
    Latin-1 'ü' followed by a letter reads as a rare hanzi) is refused, naming the line, unless
    `encoding="gb18030"` says so. InputError names the line and column of the first bad byte."""
    if encoding in ("auto", "utf-8"):
        try:
            return data.decode("utf-8-sig"), "UTF-8"
        except UnicodeDecodeError as exc:
            if encoding == "utf-8":
                raise _bad_byte(data, exc.start, source, "is not UTF-8 text") from None
            utf8_error = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise _bad_byte(data, utf8_error if encoding == "auto" else 0, source,
                        "is neither UTF-8 nor GB18030/GBK text; save the file as CSV UTF-8") from None
    if encoding == "auto":
        odd = _gbk_ascii_trail(data)
        if odd is not None:
            looks = data[odd:odd + 2].decode("gb18030")
            latin = data[odd:odd + 2].decode("cp1252", errors="replace")
            raise _bad_byte(data, odd, source,
                            f"is not UTF-8; as GBK it would read {looks!r}, more likely {latin!r} in a "
                            "Western encoding; save the file as CSV UTF-8 (or give --encoding gb18030 if "
                            "it is GBK)")
    return text, "GB18030"


def _gbk_ascii_trail(data: bytes) -> int | None:
    """Offset of the first two-byte GB18030 character whose second byte is an ASCII letter or sign
    (0x40-0x7E): rare hanzi, and exactly what Latin-1 accents before a letter look like."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
        elif i + 1 < n and 0x30 <= data[i + 1] <= 0x39:
            i += 4                                    # four-byte sequence
        else:
            if i + 1 < n and 0x40 <= data[i + 1] <= 0x7E:
                return i
            i += 2
    return None


def _bad_byte(data: bytes, offset: int, source: str, what: str) -> InputError:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return InputError(f"{source} line {line}: byte 0x{data[offset]:02x} at column {column} {what}")
