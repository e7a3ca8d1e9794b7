"""The console's Starlette application: pages, login/logout, sessions and CSRF, the event stream.

Security model: the session cookie holds a random token (HttpOnly, SameSite=Strict, Secure when
configured); the store keeps its hash. Every `/api/` request but login needs a live session (401).
Every state-changing request needs the session's CSRF token in `X-CSRF-Token` and a JSON body
(`Content-Type: application/json`), which a cross-site form cannot send. The gates' command secrets
stay in the server: the browser only ever sees results.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gate.core.passes import PASS_TYPES
from gate.station.accounts import Session
from gate.station.board import ALARM_TYPES
from gate.station.web import api_alarms, api_gates, api_registry, api_reports
from gate.station.web.context import COOKIE, Console, api_error, json_body, require, session_of
from gate.station.web.events import OVERFLOW
from gate.station.web.i18n import catalogue

HERE = Path(__file__).resolve().parent
KEEPALIVE_S = 15.0


# -- pages -----------------------------------------------------------------------------------------
_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(default=True))


def render(name: str, request: Request, session: Session | None, **context: Any) -> HTMLResponse:
    console: Console = request.app.state.console
    lang = session.officer.language if session else request.query_params.get("lang", "en")
    _ = catalogue(lang)
    html = _env.get_template(name).render(
        _=_, lang=_.lang, session=session, timezone=console.cfg.timezone,
        labels_json=json.dumps(_.labels(), ensure_ascii=False),
        alarm_types_json=json.dumps(sorted(ALARM_TYPES)), **context)
    return HTMLResponse(html, headers={"Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})


async def index(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    return render("board.html", request, session)


async def registry_page(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    console: Console = request.app.state.console
    shown = api_registry.compounds(console)
    if session.officer.is_guard:
        shown = [c for c in shown if c == session.officer.compound]
    return render("registry.html", request, session, compounds=shown, may_change=not session.officer.is_guard,
                  pass_types=PASS_TYPES)


async def reports_page(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if session.officer.is_guard:
        return HTMLResponse("403: reports are for officers and supervisors", status_code=403)
    console: Console = request.app.state.console
    today = console.store.now().astimezone(ZoneInfo(console.cfg.timezone)).date().isoformat()
    return render("reports.html", request, session, compounds=api_registry.compounds(console), today=today)


async def login_page(request: Request) -> Response:
    return render("login.html", request, None)


class LoginThrottle:
    """After FAILURES wrong passwords for one name within WINDOW_S, that name waits WINDOW_S (429).
    Bounded: at most MAX_NAMES names are remembered, the oldest forgotten first."""

    FAILURES, WINDOW_S, MAX_NAMES = 5, 300.0, 10_000

    def __init__(self) -> None:
        self._failed: dict[str, list[float]] = {}

    def blocked(self, name: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._failed.get(name, []) if now - t < self.WINDOW_S]
        if recent:
            self._failed[name] = recent
        else:
            self._failed.pop(name, None)
        return len(recent) >= self.FAILURES

    def failed(self, name: str) -> None:
        self._failed.setdefault(name, []).append(time.monotonic())
        while len(self._failed) > self.MAX_NAMES:
            self._failed.pop(next(iter(self._failed)))

    def succeeded(self, name: str) -> None:
        self._failed.pop(name, None)


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    throttle: LoginThrottle = request.app.state.throttle
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return api_error(415, "log in with a JSON body")  # a cross-site form cannot log anyone in
    body = await json_body(request)
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or len(user) > 200 or len(password) > 1024:
        return api_error(401, "wrong user or password")
    if throttle.blocked(user):
        console.store.audit(user[:64], "login_throttled")
        return api_error(429, "too many wrong passwords for this name: wait 5 minutes")
    officer = await asyncio.to_thread(console.accounts.authenticate, user, password)
    if officer is None:
        throttle.failed(user)
        console.store.audit(user[:64], "login_failed")
        return api_error(401, "wrong user or password")
    throttle.succeeded(user)
    token, session = console.accounts.open_session(officer)
    console.store.audit(officer.name, "login")
    response = JSONResponse({"user": officer.name, "role": officer.role, "compound": officer.compound,
                             "language": officer.language, "csrf": session.csrf})
    response.set_cookie(COOKIE, token, max_age=int(console.cfg.web.session_hours * 3600), path="/",
                        httponly=True, samesite="strict", secure=console.cfg.web.cookie_secure)
    return response


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request, write=True)
    console.accounts.close_session(request.cookies.get(COOKIE, ""))
    console.store.audit(session.officer.name, "logout")
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def me(request: Request) -> Response:
    session = require(request)
    o = session.officer
    return JSONResponse({"user": o.name, "role": o.role, "compound": o.compound, "language": o.language,
                         "csrf": session.csrf, "expires_at": session.expires_at})


async def set_language(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request, write=True)
    body = await json_body(request)
    try:
        console.accounts.set_language(session.officer.name, str(body.get("language")))
    except ValueError as exc:
        return api_error(422, str(exc))
    return JSONResponse({"ok": True})


async def health(request: Request) -> Response:
    require(request)
    console: Console = request.app.state.console
    return JSONResponse({"broker_connected": console.broker_connected(),
                         "broker": f"{console.cfg.host}:{console.cfg.port}"})


async def stream(request: Request) -> Response:
    """Every record stored from now on, one §4 payload per `data:` line (guards: their gates only)."""
    console: Console = request.app.state.console
    session = require(request)
    scope = console.gates_for(session)
    queue = console.hub.subscribe()

    async def events():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is OVERFLOW:
                    return  # the browser reconnects and reloads the board
                gate, line = item
                if scope is None or gate in scope:
                    yield f"data: {line}\n\n"
        finally:
            console.hub.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def on_http_error(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith("/api/"):
        return api_error(exc.status_code, exc.detail)
    if exc.status_code == 401:
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(f"{exc.status_code}", status_code=exc.status_code)


def create_app(console: Console) -> Starlette:
    """The ASGI app for `console` (uvicorn runs it in `serve`; tests run it the same way)."""
    routes = [
        Route("/", index), Route("/login", login_page),
        Route("/registry", registry_page), Route("/reports", reports_page),
        Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me), Route("/api/me/language", set_language, methods=["POST"]),
        Route("/api/health", health), Route("/api/stream", stream),
        *api_alarms.routes, *api_gates.routes, *api_registry.routes, *api_reports.routes,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def api_not_found(request: Request) -> Response:
        require(request)  # unknown /api/ paths still answer 401 before 404
        return api_error(404, "no such API")

    routes.append(Route("/api/{rest:path}", api_not_found, methods=["GET", "POST"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: on_http_error})
    app.state.console = console
    app.state.throttle = LoginThrottle()
    return app
