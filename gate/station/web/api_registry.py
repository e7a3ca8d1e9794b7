"""Registry routes (docs/registry.md "The console"): search a compound's passes, add, revoke, import a
CSV, and each gate's registry version against the current one (drift).

Roles: officers and supervisors search and change every compound's registry; a guard may only
search (and see the drift of) their own compound. Every change goes through `StationRegistry`, the
calls `gatectl station passes ...` makes, is published to the compound's gates the same way, and
leaves an audit entry. One change (and its publication) runs at a time, so two officers' changes
cannot interleave their retained snapshots.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
from typing import Any
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gate.core.csvtext import decode_csv
from gate.core.errors import InputError
from gate.core.passes import PASS_TYPES, make_pass, parse_pass_csv
from gate.core.timefmt import parse_ts
from gate.core.uid import normalize_uid
from gate.station.accounts import Session
from gate.station.commands import StationLinkError
from gate.station.registry import RegistryVersion, StationRegistry
from gate.station.registry_publish import publish_version
from gate.station.web.context import Console, api_error, require

MAX_RESULTS = 500
MAX_IMPORT_BODY = 24 * 1024 * 1024  # base64 of a ~17 MB CSV: well over 100,000 passes
_change_lock = threading.Lock()
_COLUMNS = ("card", "name", "household", "pass_type", "valid_from", "valid_until", "revoked")


def compounds(console: Console) -> list[str]:
    return sorted({i.compound for i in console.cfg.gate_info.values() if i.compound})


def _compound(request: Request, session: Session, *, write: bool) -> str:
    """The path's compound, if this officer may see it (and change it, for `write`)."""
    console: Console = request.app.state.console
    compound = request.path_params["compound"]
    if compound not in compounds(console):
        raise HTTPException(404, f"no such compound: {compound[:64]!r}")
    if session.officer.is_guard:
        if compound != session.officer.compound:
            raise HTTPException(403, "a guard sees only the registry of their own compound")
        if write:
            raise HTTPException(403, "guards may search the registry, not change it")
    return compound


async def _bounded_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON body, refused (413) as soon as it grows past `limit`: never held whole when too big."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise HTTPException(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body


def _version_json(v: RegistryVersion | None) -> dict[str, Any] | None:
    return None if v is None else {"version": v.version, "hash": v.hash, "count": v.count, "change": v.change,
                                   "created_at": v.created_at}


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search(registry: StationRegistry, compound: str, q: str, limit: int) -> tuple[list[dict], int]:
    where, params = "compound = ?", [compound]
    if q:
        where += (" AND (card LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR COALESCE(household, '') LIKE ? "
                  "ESCAPE '\\')")
        params += [_like(q.replace(":", "").replace(" ", "")), _like(q), _like(q)]
    (total,), = registry.query(f"SELECT COUNT(*) FROM registry_passes WHERE {where}", params)
    rows = registry.query(f"SELECT {', '.join(_COLUMNS)} FROM registry_passes WHERE {where} "
                          "ORDER BY household IS NULL, household, name, card LIMIT ?", [*params, limit])
    return [{**dict(zip(_COLUMNS, r)), "revoked": bool(r[6])} for r in rows], total


def _with_local_dates(p: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """valid_from/valid_until as the station's local time too (stored in UTC)."""
    for key in ("valid_from", "valid_until"):
        try:
            p[f"{key}_local"] = parse_ts(p[key]).astimezone(tz).isoformat(timespec="minutes") if p[key] else ""
        except ValueError:
            p[f"{key}_local"] = p[key]
    return p


async def search(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    compound = _compound(request, session, write=False)
    q = request.query_params.get("q", "").strip()[:100]
    try:
        limit = max(1, min(MAX_RESULTS, int(request.query_params.get("limit", 100))))
    except ValueError:
        return api_error(422, "limit: a whole number")
    with StationRegistry(console.cfg.store) as registry:
        found, total = _search(registry, compound, q, limit)
        current = registry.current(compound)
    tz = ZoneInfo(console.cfg.timezone)
    return JSONResponse({"compound": compound, "current": _version_json(current), "total": total,
                         "passes": [_with_local_dates(p, tz) for p in found]})


def _held(console: Console, compound: str) -> list[dict[str, Any]]:
    """Each gate of the compound: the registry version its last status with a valid MAC reports."""
    gates = sorted(g for g, i in console.cfg.gate_info.items() if i.compound == compound)
    stored = {g: (online, at, status, verified) for g, online, at, status, verified in console.store.query(
        "SELECT gate, online, status_at, status, status_verified FROM gates")}
    out = []
    for gate in gates:
        online, at, status, verified = stored.get(gate, (None, None, None, None))
        try:
            payload = json.loads(status) if status and verified else {}
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        out.append({"gate": gate, "name": console.cfg.gate_name(gate),
                    "online": None if online is None else bool(online), "status_at": at,
                    "status_verified": None if verified is None else bool(verified),
                    "registry_version": payload.get("registry_version"), "registry_hash": payload.get("registry_hash")})
    return out


async def drift(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request)
    compound = _compound(request, session, write=False)
    with StationRegistry(console.cfg.store) as registry:
        current = registry.current(compound)
    gates = _held(console, compound)
    for g in gates:
        g["current"] = bool(current and g["registry_version"] == current.version and g["registry_hash"] == current.hash)
    return JSONResponse({"compound": compound, "current": _version_json(current), "gates": gates,
                         "behind": sum(not g["current"] for g in gates)})


def _change(console: Console, compound: str, apply) -> dict[str, Any]:
    """Run `apply(registry)` (one new version) and publish it; the answer says where it went."""
    with _change_lock, StationRegistry(console.cfg.store) as registry:
        version = apply(registry)
        answer: dict[str, Any] = {"compound": compound, "version": _version_json(version)}
        try:
            answer["published"] = publish_version(console.cfg, registry, compound)
        except (StationLinkError, ValueError) as exc:
            answer["published"], answer["publish_error"] = [], (
                f"stored but NOT published: {exc}; it goes out with the next change or "
                f"`gatectl station passes sync --compound {compound}`")
    return answer


def _refused(request: Request, session: Session, action: str, compound: str, detail: str) -> Response:
    """422, audited: an officer's refused change is part of the record too."""
    console: Console = request.app.state.console
    console.store.audit(session.officer.name, f"{action}_refused", compound, detail)
    return api_error(422, detail)


async def _changed(request: Request, session: Session, compound: str, action: str, detail: str, apply,
                   **extra: Any) -> Response:
    console: Console = request.app.state.console
    try:
        answer = await asyncio.to_thread(_change, console, compound, apply)
    except InputError as exc:
        return _refused(request, session, action, compound, str(exc))
    v = answer["version"]
    console.store.audit(session.officer.name, action, compound,
                        f"{detail}; version {v['version']} ({v['count']} passes)"
                        + (f"; {answer['publish_error']}" if "publish_error" in answer else
                           f"; published to {', '.join(answer['published'])}"))
    return JSONResponse({**answer, **extra})


def _field(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InputError(f"{key}: text of at most 200 characters")
    return value


async def add(request: Request) -> Response:
    console: Console = request.app.state.console
    session = require(request, write=True)
    compound = _compound(request, session, write=True)
    body = await _bounded_json(request, 64 * 1024)
    try:
        pass_type = _field(body, "pass_type") or "resident"
        if pass_type not in PASS_TYPES:
            raise InputError(f"pass_type: one of {', '.join(PASS_TYPES)}, got {pass_type!r}")
        p = make_pass(_field(body, "card") or "", _field(body, "name") or "", _field(body, "household"),
                      _field(body, "valid_from"), _field(body, "valid_until"), pass_type,
                      tz=ZoneInfo(console.cfg.timezone))
    except InputError as exc:
        return _refused(request, session, "registry_add", compound, str(exc))
    return await _changed(request, session, compound, "registry_add", f"add {p.card} {p.name}",
                          lambda registry: registry.add(compound, p))


async def revoke(request: Request) -> Response:
    session = require(request, write=True)
    compound = _compound(request, session, write=True)
    try:
        card = normalize_uid(request.path_params["card"])
    except InputError as exc:
        return _refused(request, session, "registry_revoke", compound, str(exc))
    return await _changed(request, session, compound, "registry_revoke", f"revoke {card}",
                          lambda registry: registry.revoke(compound, card))


async def import_csv(request: Request) -> Response:
    """`{"filename": NAME, "data": BASE64}`: the file's bytes, so the encoding is detected as the CLI does."""
    console: Console = request.app.state.console
    session = require(request, write=True)
    compound = _compound(request, session, write=True)
    body = await _bounded_json(request, MAX_IMPORT_BODY)
    filename = body.get("filename") if isinstance(body.get("filename"), str) else ""
    filename = "".join(c for c in filename if c.isprintable())[:120] or "upload.csv"
    try:
        data = base64.b64decode(body.get("data") if isinstance(body.get("data"), str) else "", validate=True)
    except (binascii.Error, ValueError):
        return _refused(request, session, "registry_import", compound, "data: the file's bytes in base64")
    try:
        text, encoding = decode_csv(data, filename)
        passes = parse_pass_csv(text, filename, tz=ZoneInfo(console.cfg.timezone))
        if not passes:  # an empty export would silently empty every gate of the compound
            raise InputError(f"{filename}: no pass in the file (header only?): nothing imported")
    except InputError as exc:  # nothing is applied: the whole file is checked before the one transaction
        return _refused(request, session, "registry_import", compound, str(exc))
    return await _changed(request, session, compound, "registry_import",
                          f"import {filename} ({encoding}, {len(passes)} passes)",
                          lambda registry: registry.import_passes(compound, passes, source=filename),
                          encoding=encoding, filename=filename)


routes = [
    Route("/api/registry/{compound}/passes", search),
    Route("/api/registry/{compound}/passes", add, methods=["POST"]),
    Route("/api/registry/{compound}/passes/{card}/revoke", revoke, methods=["POST"]),
    Route("/api/registry/{compound}/import", import_csv, methods=["POST"]),
    Route("/api/registry/{compound}/drift", drift),
]
