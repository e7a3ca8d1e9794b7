"""Report routes: a compound's day as JSON and as the Excel CSV `gatectl station report` writes
(gate/station/reports.py). Officers and supervisors only: the report names residents under home
observation, which a gate guard's account has no need to see."""
from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gate.core.errors import InputError
from gate.station.report_format import report_csv
from gate.station.reports import Report, compound_report, parse_day, store_fetch
from gate.station.web.api_registry import compounds
from gate.station.web.context import Console, require


def _report(request: Request) -> tuple[Report, str]:
    console: Console = request.app.state.console
    session = require(request)
    if session.officer.is_guard:
        raise HTTPException(403, "reports are for officers and supervisors")
    compound = request.path_params["compound"]
    if compound not in compounds(console):
        raise HTTPException(404, f"no such compound: {compound[:64]!r}")
    gates = sorted(g for g, i in console.cfg.gate_info.items() if i.compound == compound)
    try:
        min_attempts = int(request.query_params.get("min_attempts", 2))
        report = compound_report(store_fetch(console.store), gates, compound=compound,
                                 day=parse_day(request.path_params["day"]), tz_name=console.cfg.timezone,
                                 min_attempts=min_attempts)
    except (InputError, ValueError) as exc:
        raise HTTPException(422, str(exc).replace("--", "")) from None
    return report, session.officer.name


async def report_json(request: Request) -> Response:
    report, _officer = await asyncio.to_thread(_report, request)
    return JSONResponse(report.to_json())


async def report_download(request: Request) -> Response:
    console: Console = request.app.state.console
    report, officer = await asyncio.to_thread(_report, request)
    lang = request.query_params.get("lang") or console.accounts.officer(officer).language
    console.store.audit(officer, "report_csv", report.compound, report.day.isoformat())
    name = f"report-{report.compound}-{report.day.isoformat()}.csv"
    if not (name.isascii() and name.isprintable()) or '"' in name or "\\" in name:
        name = f"report-{report.day.isoformat()}.csv"
    return Response(report_csv(report, lang), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


routes = [
    Route("/api/reports/{compound}/{day}.csv", report_download),
    Route("/api/reports/{compound}/{day}", report_json),
]
