"""A report (gate/station/reports.py) as the CSV Excel opens and as text for a terminal.

CSV: UTF-8 with a BOM (Excel on Windows reads a BOM-less file as the ANSI code page, so Chinese turns
to mojibake), CRLF rows, headers in the officer's language from the console's catalogue, three
blocks (unknown cards, home observation, outings), each under its title row and apart by a blank
row. Cells a spreadsheet would evaluate (leading = + - @) get a leading apostrophe.
"""
from __future__ import annotations

import csv
import io

from gate.station.reports import Report
from gate.station.web.i18n import catalogue

# (title msgid, [(key, header msgid)]) of each block, in the CSV's order.
BLOCKS = (
    ("unknown_cards", "Unknown cards tried repeatedly", [
        ("card", "Card"), ("attempts", "Attempts"), ("gates", "Gates"), ("first_local", "First attempt"),
        ("last_local", "Last attempt"), ("alarmed", "Gate raised an alarm")]),
    ("quarantine_exits", "Residents under home observation who tried to leave", [
        ("name", "Name"), ("household", "Household"), ("card", "Card"), ("attempts", "Attempts"),
        ("gates", "Gates"), ("first_local", "First attempt"), ("last_local", "Last attempt"),
        ("quarantine_until_local", "Observation until")]),
    ("outings", "Outings per household", [
        ("household", "Household"), ("outings", "Outings"), ("cards", "Cards"), ("gates", "Gates"),
        ("first_local", "First exit"), ("last_local", "Last exit")]),
)


def _cell(value) -> str:
    if isinstance(value, bool):
        value = "1" if value else "0"
    elif isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def report_csv(report: Report, lang: str) -> bytes:
    _ = catalogue(lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([_cell(_("Compound")), _cell(report.compound), _cell(_("Date")), report.day.isoformat(),
                _cell(_("Time zone")), report.timezone])
    data = report.to_json()
    for key, title, columns in BLOCKS:
        w.writerow([])
        w.writerow([_(title)])
        w.writerow([_(header) for _k, header in columns])
        for row in data[key]:
            w.writerow([_cell(row.get(k)) for k, _h in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _printable(text: str) -> str:
    """Gate-supplied text as data: a control character cannot move an officer's terminal cursor."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def report_text(report: Report, lang: str) -> str:
    """A plain summary for a terminal: each block's title, then one tab-separated line a row."""
    _ = catalogue(lang)
    data = report.to_json()
    lines = [f"{_('Compound')} {report.compound}  {_('Date')} {report.day.isoformat()} ({report.timezone})"]
    for key, title, columns in BLOCKS:
        lines.append(f"\n{_(title)} ({len(data[key])})")
        lines.append("\t".join(_(h) for _k, h in columns))
        lines.extend("\t".join(_printable(_cell(row.get(k))) for k, _h in columns) for row in data[key])
    if report.unverified:
        lines.append(f"\n{report.unverified} " + _("records without a valid gate signature were left out"))
    return "\n".join(lines) + "\n"
