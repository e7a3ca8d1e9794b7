"""Alarm routes: the §6.1 list and ack, the paged board, claim, and one alarm's detail.

Acknowledging: the officer's note is stored first, then the signed `ack` command goes to the gate
(gate/station/commands.py). The alarm closes only when the gate's `alarm_acknowledged` record for it
is stored; 200 then. When the gate refuses, does not answer, or answers without confirming this alarm,
the answer is 202 with `gate_confirmed: false` and the reason, and the board shows it UNCONFIRMED.
"""
from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gate.station.board import ALARM_TYPES
from gate.station.console_store import MAX_NOTE
from gate.station.web.context import Console, api_error, json_body, require

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CONFIRM_POLL_S = 0.05
AROUND = 50  # records either side of an alarm searched for its door events


def _alarm_key(request: Request) -> tuple[str, int] | None:
    try:
        return request.path_params["gate"], int(request.path_params["seq"])
    except ValueError:
        return None


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(request.query_params.get(name, default))))
    except ValueError:
        return default


async def list_alarms(request: Request) -> Response:
    """§6.1: open alarms and those acknowledged in the last 24 h (every one: no hidden cap)."""
    console: Console = request.app.state.console
    session = require(request)
    rows, counts = console.store.board(limit=-1, gates=console.gates_for(session))
    now = console.store.now()
    return JSONResponse([r.to_json(console.cfg.timezone, now=now) for r in rows],
                        headers={"X-Total-Count": str(counts["total"]), "X-Open-Count": str(counts["open"])})


async def board(request: Request) -> Response:
    """One page of the board with the counts over all pages, and the broker link."""
    console: Console = request.app.state.console
    session = require(request)
    size = _int_param(request, "size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int_param(request, "page", 1, 1, 10**9)
    rows, counts = console.store.board(limit=size, offset=(page - 1) * size, gates=console.gates_for(session))
    now = console.store.now()
    return JSONResponse({
        "items": [r.to_json(console.cfg.timezone, now=now) for r in rows], "counts": counts,
        "page": page, "size": size, "pages": max(1, -(-counts["total"] // size)),
        "broker_connected": console.broker_connected(),
        "escalate_after_seconds": console.cfg.web.escalate_after_seconds,
    })


def _find(request: Request):
    console: Console = request.app.state.console
    key = _alarm_key(request)
    row = console.store.alarm(*key) if key else None
    return key, row


async def claim(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request, write=True)
    key, row = _find(request)
    if row is None or not console.may_see(session, row.gate):
        return api_error(404, "no such alarm")
    if session.officer.is_guard:
        return api_error(403, "guards do not handle police alarms")
    holder = console.store.claim(row.gate, row.seq, session.officer.name)
    console.store.audit(session.officer.name, "claim", f"{row.gate}/{row.seq}", "" if holder == session.officer.name
                        else f"already claimed by {holder}")
    if holder != session.officer.name:
        return api_error(409, f"already claimed by {holder}", claimed_by=holder)
    return JSONResponse({"claimed_by": holder})


async def acknowledge(request: Request) -> Response:
    """§6.1: 200 acknowledged (the gate confirmed); 404 no such alarm; 422 without a note."""
    console: Console = request.app.state.console
    session = require(request, write=True)
    key, row = _find(request)
    if row is None or not console.may_see(session, row.gate):
        return api_error(404, "no such alarm")
    body = await json_body(request)
    note = body.get("note")
    if not isinstance(note, str) or not note.strip():
        return api_error(422, "note: say what was done (e.g. \"patrol dispatched\")")
    note = note.strip()[:MAX_NOTE]
    officer = session.officer
    if officer.is_guard:
        return api_error(403, "guards do not acknowledge police alarms")
    if row.claimed_by and row.claimed_by != officer.name and not officer.is_supervisor:
        return api_error(409, f"claimed by {row.claimed_by}", claimed_by=row.claimed_by)
    if row.closed_at:
        return JSONResponse({"acknowledged": True, "gate_confirmed": True, "state": "closed",
                             "closed_by": row.closed_by})
    consumer = console.link()
    cmd_id = None
    error = None
    if consumer is None or not consumer.is_connected:
        error = "the station has no broker connection: the gate was not told"
    else:
        try:
            cmd = consumer.sender.publish(row.gate, "ack", {"seq": row.seq, "by": officer.name})
            cmd_id = cmd["cmd_id"]
        except (OSError, ValueError) as exc:  # no secret for that gate, unreadable file
            error = f"cannot send the ack command: {exc}"
    console.store.record_ack(row.gate, row.seq, officer.name, note, cmd_id)
    console.store.audit(officer.name, "ack", f"{row.gate}/{row.seq}", note)
    if cmd_id is not None:
        error = await _await_confirmation(console, consumer, row.gate, row.seq, cmd_id)
    if error is None:
        return JSONResponse({"acknowledged": True, "gate_confirmed": True, "state": "closed", "cmd_id": cmd_id})
    console.store.ack_failed(row.gate, row.seq, error)
    return JSONResponse({"acknowledged": False, "gate_confirmed": False, "state": "unconfirmed",
                         "error": error, "cmd_id": cmd_id}, status_code=202)


async def _await_confirmation(console: Console, consumer, gate: str, seq: int, cmd_id: str) -> str | None:
    """None once the gate's alarm_acknowledged for (gate, seq) is stored; else why not."""
    timeout = console.cfg.result_timeout_seconds
    deadline = time.monotonic() + timeout
    result = await asyncio.to_thread(consumer.sender.pending.wait, cmd_id, timeout)
    if result.timed_out:
        return f"the gate did not answer within {timeout:g} s"
    if not result.ok:
        return f"the gate refused: {result.error or 'no reason given'}"
    # The gate answers first and journals alarm_acknowledged right after; give it the rest of the time.
    while True:
        row = console.store.alarm(gate, seq)
        if row is not None and row.closed_at:
            return None
        if time.monotonic() >= deadline:
            return ("the gate accepted the command but did not confirm this alarm "
                    "(it is no longer active there, e.g. after the gate restarted)")
        await asyncio.sleep(CONFIRM_POLL_S)


async def detail(request: Request) -> Response:
    """One alarm with what happened around it at that gate."""
    console: Console = request.app.state.console
    session = require(request)
    key, row = _find(request)
    if row is None or not console.may_see(session, row.gate):
        return api_error(404, "no such alarm")
    store = console.store
    # The door's records around the alarm (by seq: the gate's own order), and the attempts leading up to it.
    door = store.records(gate=row.gate, min_seq=max(1, row.seq - AROUND), before_seq=row.seq + AROUND + 1,
                         types=("door_opened", "door_closed", "alarm_cleared"), limit=10)
    attempts = store.records(gate=row.gate, before_seq=row.seq + 1, limit=5,
                             types=("access_granted", "access_refused", "override", "exit_request"))
    status = store.gate_statuses().get(row.gate, (None, None, {}))
    return JSONResponse({
        "alarm": row.to_json(console.cfg.timezone, now=store.now()),
        "door_events": door, "last_attempts": attempts,
        "door_now": status[2].get("door"), "lock_now": status[2].get("lock"), "mode_now": status[2].get("mode"),
        "gate_online": status[0],
        "is_alarm_type": row.type in ALARM_TYPES,
        "snapshots": console.snapshots.list(row.gate, row.seq) if console.snapshots else [],
    })


async def snapshot(request: Request) -> Response:
    """One stored camera frame of an alarm (same session and scope as the alarm)."""
    console: Console = request.app.state.console
    session = require(request)
    key, row = _find(request)
    if row is None or not console.may_see(session, row.gate) or console.snapshots is None:
        return api_error(404, "no such alarm")
    try:
        n = int(request.path_params["n"])
    except ValueError:
        return api_error(404, "no such snapshot")
    image = console.snapshots.image(row.gate, row.seq, n)
    if image is None:
        return api_error(404, "no such snapshot")
    return Response(image[1], media_type=image[0], headers={"Cache-Control": "private, max-age=3600",
                                                          "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/api/alarms", list_alarms),
    Route("/api/board", board),
    Route("/api/alarms/{gate}/{seq}", detail),
    Route("/api/alarms/{gate}/{seq}/claim", claim, methods=["POST"]),
    Route("/api/alarms/{gate}/{seq}/ack", acknowledge, methods=["POST"]),
    Route("/api/alarms/{gate}/{seq}/snapshots/{n}", snapshot),
]
