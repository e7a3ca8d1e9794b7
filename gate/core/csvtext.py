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


def decode_csv(data: bytes, source: str) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), else GB18030 (a superset of GBK and GB2312, what
    Chinese spreadsheet programs save). InputError naming the line and column of the first byte that
    is neither."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("gb18030"), "GB18030"
        except UnicodeDecodeError:
            line = data.count(b"\n", 0, utf8.start) + 1
            column = utf8.start - (data.rfind(b"\n", 0, utf8.start) + 1) + 1
            raise InputError(f"{source} line {line}: byte 0x{data[utf8.start]:02x} at column {column} is "
                             "neither UTF-8 nor GB18030/GBK text; save the file as CSV UTF-8") from None
