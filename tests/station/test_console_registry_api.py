"""The console's registry and report API (interface §6.1) with an HTTP client, against the real app
and consumer on a real mosquitto: roles, CSRF, 401/403/404, all-or-nothing imports, audit entries,
drift from the gates' signed statuses (FakeGate), and the report's JSON and Excel CSV."""
from __future__ import annotations

import base64
import json

import httpx
import pytest

from consolekit import ConsoleServer, console_config, logged_in
from fakegate import FakeGate
from gatefixture import wait_for

from gate.station.accounts import Accounts
from gate.station.config import GateInfo
from gate.station.registry import StationRegistry
from gate.station.store import open_station_store
from gate.uplink import signing

KEY = b"registry-console-secret-0123456789"
C = "gucun-47"


@pytest.fixture
def server(broker, tmp_path):
    secret = tmp_path / "gate.secret"
    secret.write_bytes(KEY)
    cfg = console_config(tmp_path, broker.port, {
        "north": (secret, GateInfo(name="North gate", compound=C)),
        "south": (secret, GateInfo(name="South gate", compound=C)),
        "east": (secret, GateInfo(name="East gate", compound="c2"))})
    s = ConsoleServer(cfg)
    s.add_officer("wang")
    s.add_officer("li", role="supervisor")
    s.add_officer("zhao", role="guard", compound=C)
    with Accounts(cfg.store) as accounts:
        accounts.add_officer("chen", "correct horse battery", role="officer", language="zh-CN")
    s.start()
    try:
        yield s
    finally:
        s.close()


def versions(server) -> int:
    with StationRegistry(server.cfg.store) as reg:
        v = reg.current(C)
    return 0 if v is None else v.version


def actions(server) -> list[str]:
    return [a["action"] for a in server.console.store.audit_log()]


def test_registry_roles_csrf_search_add_revoke_import_and_drift(server, broker):
    anon = httpx.Client(base_url=server.url, timeout=15)
    assert anon.get(f"/api/registry/{C}/passes").status_code == 401
    assert anon.post(f"/api/registry/{C}/passes", json={"card": "DEADBEEF", "name": "x"}).status_code == 401
    assert anon.get(f"/api/registry/{C}/drift").status_code == 401

    wang = logged_in(server, "wang")
    no_csrf = wang.post(f"/api/registry/{C}/passes", json={"card": "DEADBEEF", "name": "x"},
                        headers={"X-CSRF-Token": "wrong"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    form = wang.post(f"/api/registry/{C}/passes", content=b"card=DEADBEEF&name=x",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and versions(server) == 0

    hostile = '<img src=x onerror="window.__pwned=1">王丽'
    r = wang.post(f"/api/registry/{C}/passes", json={"card": "de:ad:be:ef", "name": hostile, "household": "3-201",
                                                     "valid_until": "2027-06-30"})
    assert r.status_code == 200, r.text
    assert r.json()["version"]["version"] == 1 and r.json()["published"] == ["north", "south"]
    with StationRegistry(server.cfg.store) as reg:
        assert reg.published("north") == (1, 1) and reg.published("east") is None
    bad = wang.post(f"/api/registry/{C}/passes", json={"card": "NOTHEX", "name": "Zhao Min"})
    assert bad.status_code == 422 and "NOTHEX" in bad.json()["error"] and versions(server) == 1
    bad = wang.post(f"/api/registry/{C}/passes", json={"card": "11223344", "name": "Zhao", "pass_type": "king"})
    assert bad.status_code == 422 and "pass_type" in bad.json()["error"]
    assert wang.post("/api/registry/gucun-48/passes", json={"card": "11223344", "name": "x"}).status_code == 404

    for q in ("王丽", "3-20", "de:ad", "DEADBEEF"):
        found = wang.get(f"/api/registry/{C}/passes", params={"q": q}).json()
        assert [p["card"] for p in found["passes"]] == ["DEADBEEF"] and found["passes"][0]["name"] == hostile, q
    assert wang.get(f"/api/registry/{C}/passes", params={"q": "%"}).json()["total"] == 0  # LIKE's % is literal
    assert wang.get("/api/registry/c2/passes").json()["passes"] == []  # another compound's list

    zhao = logged_in(server, "zhao")  # a guard: search own compound only, never change
    assert zhao.get(f"/api/registry/{C}/passes", params={"q": "3-201"}).json()["total"] == 1
    assert zhao.get("/api/registry/c2/passes").status_code == 403
    assert zhao.get("/api/registry/c2/drift").status_code == 403
    for path, body in ((f"/api/registry/{C}/passes", {"card": "11223344", "name": "x"}),
                       (f"/api/registry/{C}/passes/DEADBEEF/revoke", {}),
                       (f"/api/registry/{C}/import", {"filename": "a.csv", "data": ""})):
        assert zhao.post(path, json=body).status_code == 403, path
    assert versions(server) == 1

    li = logged_in(server, "li")
    r = li.post(f"/api/registry/{C}/passes/DEADBEEF/revoke", json={})
    assert r.status_code == 200 and r.json()["version"]["version"] == 2
    again = li.post(f"/api/registry/{C}/passes/DEADBEEF/revoke", json={})
    assert again.status_code == 422 and "already revoked" in again.json()["error"] and versions(server) == 2
    assert wang.get(f"/api/registry/{C}/passes").json()["passes"][0]["revoked"] is True

    gbk = "card,name,household\nAABBCCDD,王丽,3-201\n11223344,赵敏,3-202\n".encode("gb18030")
    r = wang.post(f"/api/registry/{C}/import", json={"filename": "名单.csv", "data": base64.b64encode(gbk).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["encoding"] == "GB18030" and r.json()["version"]["count"] == 2 and versions(server) == 3
    broken = gbk + "NOTHEX,钱,3-203\n".encode("gb18030")
    r = wang.post(f"/api/registry/{C}/import", json={"filename": "bad.csv", "data": base64.b64encode(broken).decode()})
    assert r.status_code == 422 and "bad.csv line 4" in r.json()["error"] and versions(server) == 3
    assert wang.post(f"/api/registry/{C}/import", json={"filename": "x.csv", "data": "!!"}).status_code == 422
    empty = wang.post(f"/api/registry/{C}/import", json={"filename": "e.csv", "data": base64.b64encode(b"card,name\n").decode()})
    assert empty.status_code == 422 and "no pass" in empty.json()["error"] and versions(server) == 3
    huge = wang.post(f"/api/registry/{C}/import", content=b'{"data": "' + b"A" * (25 * 1024 * 1024) + b'"}',
                     headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and versions(server) == 3

    # Drift: north reports the current version with its MAC; south claims it without one.
    with StationRegistry(server.cfg.store) as reg:
        current = reg.current(C)
    north, south = FakeGate(broker.port, "north", KEY), FakeGate(broker.port, "south", KEY, mac=False)
    try:
        held = {"online": True, "registry_version": current.version, "registry_hash": current.hash,
                "registry_compound": C}
        north.client.publish(north.topic("status"), json.dumps(signing.seal({**held, "gate": "north"}, KEY, signing.STATUS)),
                             qos=1, retain=True)
        south.client.publish(south.topic("status"), json.dumps({**held, "gate": "south"}), qos=1, retain=True)
        drift = wait_for(lambda: (d := wang.get(f"/api/registry/{C}/drift").json())["gates"][0]["current"]
                         and d["gates"][1]["online"] is not None and d, 10, "both statuses stored")
    finally:
        north.close()
        south.close()
    assert [(g["gate"], g["current"]) for g in drift["gates"]] == [("north", True), ("south", False)]
    assert drift["behind"] == 1 and drift["gates"][1]["status_verified"] is False
    assert zhao.get(f"/api/registry/{C}/drift").json()["behind"] == 1

    log = actions(server)
    assert {"registry_add", "registry_add_refused", "registry_revoke", "registry_revoke_refused", "registry_import",
            "registry_import_refused"} <= set(log)
    assert all(a["officer"] == "li" for a in server.console.store.audit_log() if a["action"] == "registry_revoke")


def test_report_api_roles_json_and_csv(server):
    day = [("north", 1, "2026-12-01T16:00:00.000Z", {"card": "AABBCCDD", "reason": "unknown_card"}),
           ("south", 1, "2026-12-02T15:59:59.999Z", {"card": "AABBCCDD", "reason": "unknown_card"}),
           ("south", 2, "2026-12-02T16:00:00.000Z", {"card": "AABBCCDD", "reason": "unknown_card"})]
    with open_station_store(server.cfg.store) as store:
        store.add_records([(g, "event", {"gate": g, "seq": s, "id": f"{g}{s}", "ts": ts, "type": "access_refused",
                                         "historical": False, "reader": "main", **f}) for g, s, ts, f in day])
    path = f"/api/reports/{C}/2026-12-02"
    assert httpx.get(server.url + path).status_code == 401
    assert logged_in(server, "zhao").get(path).status_code == 403  # guards: no reports
    wang = logged_in(server, "wang")
    data = wang.get(path).json()
    assert [(u["card"], u["attempts"], u["gates"]) for u in data["unknown_cards"]] == [("AABBCCDD", 2, ["north", "south"])]
    assert wang.get(f"/api/reports/{C}/2026-12-03").json()["unknown_cards"] == []  # one attempt: not repeated
    assert wang.get(f"/api/reports/{C}/2026-12-03", params={"min_attempts": 1}).json()["unknown_cards"][0]["attempts"] == 1
    assert wang.get(f"/api/reports/{C}/2026-13-02").status_code == 422
    assert wang.get("/api/reports/gucun-48/2026-12-02").status_code == 404
    chen = logged_in(server, "chen")  # the officer's language gives the headers
    csv_ = chen.get(path + ".csv")
    assert csv_.status_code == 200 and csv_.headers["content-type"].startswith("text/csv")
    assert csv_.content.startswith("\ufeff小区,gucun-47".encode()) and "重复尝试的未登记卡".encode() in csv_.content
    assert wang.get(path + ".csv").content.startswith("\ufeffCompound,".encode())
    assert "report_csv" in actions(server)


def test_a_change_without_broker_is_stored_and_says_not_published(tmp_path):
    from broker import free_port

    secret = tmp_path / "gate.secret"
    secret.write_bytes(KEY)
    cfg = console_config(tmp_path, free_port(), {"north": (secret, GateInfo(name="North gate", compound=C))})
    server = ConsoleServer(cfg)
    server.add_officer("wang")
    server.start(wait_broker=False)  # nothing listens on the broker's port
    try:
        r = logged_in(server, "wang").post(f"/api/registry/{C}/passes", json={"card": "DEADBEEF", "name": "Wang Li"})
        assert r.status_code == 200 and r.json()["published"] == [] and versions(server) == 1
        assert "NOT published" in r.json()["publish_error"] and "passes sync" in r.json()["publish_error"]
        entry = next(a for a in server.console.store.audit_log() if a["action"] == "registry_add")
        assert "NOT published" in entry["detail"] and entry["target"] == C
    finally:
        server.close()
