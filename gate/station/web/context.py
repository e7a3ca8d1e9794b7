"""What every console route shares: the Console (config, stores, hub, broker link), the session
check with CSRF, JSON errors and bodies."""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from gate.station.accounts import Accounts, Session
from gate.station.config import StationConfig
from gate.station.console_store import ConsoleStore
from gate.station.web.events import EventHub

COOKIE = "gate_session"


@dataclass
class Console:
    """Everything the routes need: config, stores, the event hub, and the link to the broker
    (`link()` returns the running consumer or None while the broker is unreachable)."""

    cfg: StationConfig
    accounts: Accounts
    store: ConsoleStore
    hub: EventHub
    link: Callable[[], Any]
    snapshots: Any = None  # SnapshotStore: camera frames kept with alarms
    receivers: Callable[[], list] = lambda: []  # the SIA DC-09 receiver links' status (gate/dc09)

    def gates_for(self, session: Session) -> list[str] | None:
        """The gates this officer may see: None means all; a guard sees their compound's gates."""
        if not session.officer.is_guard:
            return None
        return [g for g, info in self.cfg.gate_info.items() if info.compound == session.officer.compound]

    def may_see(self, session: Session, gate: str) -> bool:
        scope = self.gates_for(session)
        return scope is None or gate in scope

    def broker_connected(self) -> bool:
        consumer = self.link()
        return bool(consumer is not None and consumer.is_connected)


def api_error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def session_of(request: Request) -> Session | None:
    console: Console = request.app.state.console
    return console.accounts.session(request.cookies.get(COOKIE))


def require(request: Request, *, write: bool = False) -> Session:
    """The request's session; HTTPException 401 without one, 403 when a write lacks the CSRF token."""
    session = session_of(request)
    if session is None:
        raise HTTPException(401, "not logged in")
    if write:
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), session.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF token")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "state-changing requests take a JSON body")
    return session


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise HTTPException(413, "request body too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise HTTPException(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body
