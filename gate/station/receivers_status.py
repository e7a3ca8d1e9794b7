"""`gatectl station -c S receivers status [--probe] [--json]`: each DC-09 receiver link as the
running station last reported it (read from the outbox file), doctor-style: one row per receiver,
PASS / WARN / FAIL with a hint. A receiver no running station has reported on lately is probed
with a NULL link test. Exit 1 when a link is down, else 0."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from gate.clock import Clock, SystemClock
from gate.core.timefmt import parse_ts
from gate.dc09.link import ReceiverLink
from gate.dc09.outbox import Outbox
from gate.station.config import StationConfig
from gate.station.receivers import saved_status

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


def _fresh(entry: dict[str, Any], clock: Clock, supervision: float) -> bool:
    """Did a running station update this link's status recently (within 3 supervision intervals,
    at least 2 minutes)?"""
    try:
        age = clock.wall() - parse_ts(entry["updated_at"])
    except (KeyError, ValueError, TypeError):
        return False
    return age <= timedelta(seconds=max(120.0, 3 * supervision))


def receiver_rows(cfg: StationConfig, *, probe: bool = False, clock: Clock | None = None) -> list[dict[str, Any]]:
    clock = clock or SystemClock()
    saved = saved_status(cfg)
    rows = []
    for r in cfg.receivers:
        entry = saved.get(r.name, {})
        row: dict[str, Any] = {"receiver": r.name, "address": entry.get("address") or "%s:%d" % r.addresses[0],
                               "state": entry.get("state", "unknown"), "pending": entry.get("pending", 0),
                               "rejected": entry.get("rejected_total", 0), "last_ack_at": entry.get("last_ack_at"),
                               "last_error": entry.get("last_error", ""), "reported_at": entry.get("updated_at")}
        fresh = _fresh(entry, clock, r.supervision_seconds)
        if probe or not fresh:
            with Outbox(cfg.receivers_outbox) as box:
                ok, detail = ReceiverLink(r, box, clock=clock).probe()
            row.update(probed=True, probe_ok=ok)
            if not fresh:
                row["state"] = "up" if ok else "down"
            row["detail"] = ("probe: " + detail) if fresh else f"no running station reported lately; probe: {detail}"
        else:
            row["detail"] = (f"{row['state']} since {entry.get('since')}; last ACK {row['last_ack_at'] or 'never'}"
                             + (f"; last error: {row['last_error']}" if row["state"] == "down" else ""))
        if row["state"] == "down" or row.get("probe_ok") is False:
            row["result"], row["hint"] = FAIL, "check the receiver's address, port and account; alarms wait in the outbox"
        elif row["rejected"]:
            row["result"], row["hint"] = WARN, "the receiver answered DUH (cannot process): see the station log"
        elif row["pending"] and row["state"] != "up":
            row["result"], row["hint"] = WARN, "alarms are waiting for the receiver"
        else:
            row["result"], row["hint"] = PASS, ""
        rows.append(row)
    return rows


def print_rows(rows: list[dict[str, Any]], as_json: bool = False) -> int:
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
    else:
        if not rows:
            print("no [[receivers]] configured")
        width = max([len(r["receiver"]) for r in rows] + [8])
        for r in rows:
            print(f"{r['receiver']:<{width}}  {r['result']:<4}  {r['address']}  {r['state']}, {r['pending']} waiting, "
                  f"{r['rejected']} rejected — {r['detail']}" + (f"\n{'':<{width}}        hint: {r['hint']}" if r["hint"] else ""))
        down = [r["receiver"] for r in rows if r["result"] == FAIL]
        print(f"\n{len(down)} down: {', '.join(down)}" if down else "\nevery receiver link is up" if rows else "")
    return 1 if any(r["result"] == FAIL for r in rows) else 0
