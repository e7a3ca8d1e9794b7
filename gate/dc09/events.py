"""The event map: a gate's alarm records as Contact ID (ADM-CID) and SIA-DCS event codes.

Codes follow the Contact ID event table (SIA DC-05, appendix) and the SIA DC-03 code list; the
table and the reasoning for each are in docs/station.md. A restore (`alarm_cleared`) is sent with
Contact ID qualifier 3 and the SIA restore code. Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from gate.dc09.frame import check_account


@dataclass(frozen=True)
class Code:
    """One alarm type: Contact ID event, SIA event and restore codes, and whether the number
    reported is a zone (a door, reader or device) or a user (a guard)."""

    cid: int
    sia: str
    sia_restore: str | None
    number: str = "zone"  # "zone" or "user"


EVENT_CODES: dict[str, Code] = {
    "forced_open": Code(423, "DF", "DR"),           # CID 423 forced access / SIA door forced
    "held_open": Code(426, "DN", "DR"),             # CID 426 access door propped open / SIA door left open
    "duress": Code(121, "HA", "HH", "user"),        # CID 121 duress (user) / SIA holdup alarm
    "tamper": Code(137, "TA", "TR"),                # CID 137 tamper / SIA tamper alarm
    "fire_release": Code(110, "FA", "FH"),          # CID 110 fire / SIA fire alarm (the fire input released the door)
    "keypad_lockout": Code(461, "JA", None),        # CID 461 wrong code entry / SIA user code tamper
    "device_fault": Code(330, "YX", "YZ"),          # CID 330 system peripheral trouble / SIA service required
    "gate_silent": Code(350, "YC", "YK"),           # CID 350 communication trouble / SIA communications fail
    "fever": Code(150, "UA", "UR"),                 # CID 150 24-hour non-burglary / SIA untyped zone alarm
    "quarantine_exit": Code(150, "UA", "UR"),
    "unknown_card_repeated": Code(421, "DD", None),  # CID 421 access denied / SIA access denied
    "forged_credential": Code(421, "DD", None),
    "overdue": Code(150, "UA", "UR"),
    "storage_low": Code(623, "JL", None),           # CID 623 event log 90 % full / SIA log threshold
}

FORMATS = ("ADM-CID", "SIA-DCS")


@dataclass(frozen=True)
class Report:
    """What one record becomes on a receiver: id token and bracket data (without the account)."""

    token: str
    data: str
    code: str  # for logs and status: "E423" / "R423" or the SIA code


def _number(name: Any, table: Mapping[str, int], default: int) -> int:
    """A configured number for a device/reader/guard name; else its trailing digits; else `default`."""
    if name is None or name == "":
        return default
    key = str(name)
    if key in table:
        return int(table[key])
    m = re.search(r"(\d{1,3})$", key)
    return int(m.group(1)) if m else default


def number_for(record: Mapping[str, Any], code: Code, zones: Mapping[str, int] | None = None,
               users: Mapping[str, int] | None = None) -> int:
    """The zone (door, reader or device) or user (guard) number reported for a record, 0-999."""
    if code.number == "user":
        return min(_number(record.get("guard"), users or {}, 0), 999)
    name = record.get("device") or record.get("reader") or record.get("source")
    return min(_number(name, zones or {}, 1), 999)


def report_for(record: Mapping[str, Any], account: str, fmt: str = "ADM-CID", *, area: int = 1,
               zones: Mapping[str, int] | None = None, users: Mapping[str, int] | None = None) -> Report | None:
    """The DC-09 report for a record payload (§4), or None when the record is not forwarded:
    alarms of the map, and `alarm_cleared` for those with a restore."""
    rtype = record.get("type")
    restore = rtype == "alarm_cleared"
    code = EVENT_CODES.get(record.get("alarm") if restore else rtype)
    if code is None:
        return None
    acct = check_account(account)
    number = number_for(record, code, zones, users)
    if fmt == "SIA-DCS":
        sia = code.sia_restore if restore else code.sia
        if sia is None:
            return None
        return Report("SIA-DCS", f"#{acct}|Nri{area}/{sia}{number:03d}", sia)
    if fmt != "ADM-CID":
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    if restore and code.sia_restore is None:
        return None  # a momentary alarm has no restore worth a report
    q = 3 if restore else 1
    return Report("ADM-CID", f"#{acct}|{q}{code.cid:03d} {area:02d} {number:03d}", f"{'R' if restore else 'E'}{code.cid}")
