"""Gate routes: every gate's state, one gate's recent records, history search with CSV export,
commands (unlock, lockdown) with a reason, and the audit log."""
from __future__ import annotations

import asyncio
import csv
import io
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gate.station.web.context import Console, api_error, json_body, require

MAX_HISTORY = 5000


def _gate_rows(console: Console, scope: list[str] | None) -> list[dict]:
    statuses = console.store.gate_statuses()
    known = set(statuses) | set(console.cfg.gate_info)
    gates = sorted(g for g in known if scope is None or g in scope)
    out = []
    for gate in gates:
        online, since, status = statuses.get(gate, (None, None, {}))
        state = console.store.query(
            "SELECT contiguous, max_seq, reported_last_seq FROM gates WHERE gate=?", (gate,))
        contiguous, max_seq, reported = state[0] if state else (0, 0, 0)
        missing = console.store.query("SELECT ? - COUNT(*) FROM records WHERE gate=? AND seq>?",
                                      (max(max_seq, reported) - contiguous, gate, contiguous))[0][0]
        out.append({"gate": gate, "name": console.cfg.gate_name(gate), "compound": console.cfg.gate_compound(gate),
                    "online": online, "status_at": since, "door": status.get("door"), "lock": status.get("lock"),
                    "mode": status.get("mode"), "last_seq": max(max_seq, reported), "missing": max(0, missing),
                    "last_record": console.store.last_record(gate)})
    return out


async def gates(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    return JSONResponse({"gates": _gate_rows(console, console.gates_for(session)),
                         "broker_connected": console.broker_connected(),
                         "receivers": [] if session.officer.is_guard else _receiver_rows(console)})


def _receiver_rows(console: Console) -> list[dict]:
    """Each alarm receiver link (SIA DC-09) as officers need it: up or down, since when, what waits."""
    keys = ("name", "address", "state", "since", "encrypted", "format", "pending", "last_ack_at", "last_error")
    return [{k: link.get(k) for k in keys} for link in console.receivers()]


async def gate_records(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    gate = request.path_params["gate"]
    if not console.may_see(session, gate):
        return api_error(404, "no such gate")
    return JSONResponse({"gate": gate, "name": console.cfg.gate_name(gate),
                         "records": console.store.records(gate=gate, limit=100)})


def _history(console: Console, request: Request, session) -> list[dict]:
    q = request.query_params
    scope = console.gates_for(session)
    compound = q.get("compound")
    if compound:
        in_compound = [g for g, i in console.cfg.gate_info.items() if i.compound == compound]
        scope = in_compound if scope is None else [g for g in scope if g in in_compound]
    try:
        limit = max(1, min(MAX_HISTORY, int(q.get("limit", 500))))
        offset = max(0, int(q.get("offset", 0)))
        return console.store.records(gate=q.get("gate") or None, gates=scope, type_=q.get("type") or None,
                                     card=(q.get("card") or "").replace(":", "").upper() or None,
                                     since=q.get("since") or None, until=q.get("until") or None,
                                     limit=limit, offset=offset)
    except ValueError as exc:
        raise _BadQuery(str(exc)) from None


class _BadQuery(ValueError):
    pass


async def history(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    try:
        records = _history(console, request, session)
    except _BadQuery as exc:
        return api_error(422, str(exc))
    return JSONResponse({"records": records})


async def history_csv(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    try:
        records = _history(console, request, session)
    except _BadQuery as exc:
        return api_error(422, str(exc))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["gate", "gate_name", "seq", "ts", "type", "card", "historical", "details"])
    skip = {"gate", "seq", "ts", "type", "card", "historical", "id"}
    for r in records:
        # A leading = + - @ would make a spreadsheet evaluate a gate's text as a formula.
        cells = [r.get("gate"), console.cfg.gate_name(str(r.get("gate"))), r.get("seq"), r.get("ts"), r.get("type"),
                 r.get("card", ""), r.get("historical", False),
                 json.dumps({k: v for k, v in r.items() if k not in skip}, ensure_ascii=False)]
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in cells])
    console.store.audit(session.officer.name, "export_csv", "", str(request.query_params))
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="history.csv"'})


async def command(request: Request) -> Response:
    """unlock (`seconds`) or lockdown (`on`), with a mandatory `reason`; answers with the gate's result."""
    console: Console = request.app.state.console
    session = require(request, write=True)
    gate = request.path_params["gate"]
    if not console.may_see(session, gate):
        return api_error(404, "no such gate")
    body = await json_body(request)
    action, reason = body.get("action"), body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return api_error(422, "reason: say why")
    if action == "unlock":
        seconds = body.get("seconds", 5)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 60:
            return api_error(422, f"seconds: must be between 1 and 60, got {seconds!r}")
        args = {"seconds": seconds}
    elif action == "lockdown":
        if session.officer.is_guard:
            return api_error(403, "guards may release a gate, not lock a compound down")
        if not isinstance(body.get("on"), bool):
            return api_error(422, "on: true or false")
        args = {"on": body["on"]}
    else:
        return api_error(422, "action: unlock or lockdown")
    consumer = console.link()
    if consumer is None or not consumer.is_connected:
        console.store.audit(session.officer.name, "command", gate, f"{action} {args} not sent: no broker; {reason}")
        return api_error(503, "the station has no broker connection: nothing was sent")
    try:
        cmd = consumer.sender.publish(gate, action, args)
    except (OSError, ValueError) as exc:
        return api_error(502, f"cannot send: {exc}")
    console.store.audit(session.officer.name, "command", gate, f"{action} {json.dumps(args)} {cmd['cmd_id']}: {reason}")
    result = await asyncio.to_thread(consumer.sender.pending.wait, cmd["cmd_id"], console.cfg.result_timeout_seconds)
    console.store.audit(session.officer.name, "command_result", gate, result.describe())
    return JSONResponse({"cmd_id": cmd["cmd_id"], "ok": result.ok, "timed_out": result.timed_out,
                         "error": result.error, "answer": result.describe()},
                        status_code=200 if result.ok else 502)


async def audit(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    if not session.officer.is_supervisor:
        return api_error(403, "supervisors only")
    return JSONResponse({"audit": console.store.audit_log(limit=500)})


routes = [
    Route("/api/gates", gates),
    Route("/api/gates/{gate}/records", gate_records),
    Route("/api/gates/{gate}/command", command, methods=["POST"]),
    Route("/api/history", history),
    Route("/api/history.csv", history_csv),
    Route("/api/audit", audit),
]
