"""The web console's HTTP API (interface §6.1) with an HTTP client (httpx), against the real app and
consumer on a real mosquitto, with FakeGate (tests/fakegate.py) as the gate."""
from __future__ import annotations

import json
import threading

import httpx
import pytest

from consolekit import PASSWORD, ConsoleServer, console_config, logged_in
from fakegate import FakeGate
from gatefixture import wait_for

from gate.station.accounts import Accounts, check_password, hash_password
from gate.station.config import GateInfo

GATE = "fake-north"
KEY = b"console-test-secret-0123456789"


@pytest.fixture
def setup(broker, tmp_path):
    secret = tmp_path / "gate.secret"
    secret.write_bytes(KEY)
    cfg = console_config(tmp_path, broker.port, {GATE: (secret, GateInfo(name="North gate", compound="c1")),
                                                  "other": (secret, GateInfo(name="Other", compound="c2"))})
    gate = FakeGate(broker.port, GATE, KEY)
    server = ConsoleServer(cfg)
    server.add_officer("wang")
    server.add_officer("li", role="supervisor")
    server.add_officer("zhao", role="guard", compound="c1")
    server.start()
    try:
        yield server, gate
    finally:
        server.close()
        gate.close()


def acknowledging(gate: FakeGate):
    """Make the fake gate answer `ack` like the real one: journal alarm_acknowledged for that seq."""
    original = gate._on_message

    def on_message(client, userdata, msg):
        original(client, userdata, msg)
        cmd = json.loads(msg.payload)
        if cmd.get("action") == "ack" and cmd in gate.commands:
            alarm = gate.journal.get(cmd["seq"])
            if alarm and alarm["type"] == "forced_open":
                gate.emit("alarm_acknowledged", alarm="forced_open", alarm_seq=cmd["seq"], alarm_id=alarm["id"],
                          by="station", officer=cmd.get("by"))

    gate.client.on_message = on_message


def test_password_is_scrypt_hashed_and_checked():
    stored = hash_password("s3cret-pass")
    assert stored.startswith("scrypt$") and "s3cret-pass" not in stored
    assert check_password("s3cret-pass", stored) and not check_password("s3cret-pasS", stored)


def test_login_wrong_password_and_unauthenticated_calls_get_401(setup):
    server, _ = setup
    with httpx.Client(base_url=server.url) as anon:
        assert anon.post("/api/login", json={"user": "wang", "password": "wrong"}).status_code == 401
        assert anon.post("/api/login", json={"user": "nobody", "password": PASSWORD}).status_code == 401
        for path in ("/api/alarms", "/api/board", "/api/stream", "/api/gates", "/api/history", "/api/nothing"):
            assert anon.get(path).status_code == 401, path
        assert anon.post(f"/api/alarms/{GATE}/1/ack", json={"note": "x"}).status_code == 401
        page = anon.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"


def test_session_cookie_flags_csrf_and_logout(setup):
    server, gate = setup
    rec = gate.emit("forced_open")
    r = httpx.post(server.url + "/api/login", json={"user": "wang", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    client = logged_in(server, "wang")
    wait_for(lambda: client.get("/api/alarms").json(), 10, "alarm stored")
    # Without the CSRF token a state-changing request is refused and changes nothing.
    no_csrf = httpx.Client(base_url=server.url, cookies=client.cookies)
    assert no_csrf.post(f"/api/alarms/{GATE}/{rec['seq']}/claim", json={}).status_code == 403
    assert client.get("/api/alarms").json()[0]["claimed_by"] is None
    # A form post (not JSON) is refused even with the token.
    r = client.post(f"/api/alarms/{GATE}/{rec['seq']}/claim", content="x=1",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert client.post("/api/logout", json={}).status_code == 200
    assert client.get("/api/alarms").status_code == 401


def test_session_expires(setup, tmp_path):
    server, _ = setup
    from gate.clock import FakeClock

    clock = FakeClock()
    with Accounts(server.cfg.store, clock=clock, session_hours=1) as accounts:
        officer = accounts.authenticate("wang", PASSWORD)
        token, _ = accounts.open_session(officer)
        assert accounts.session(token) is not None
        clock.advance(3601)
        assert accounts.session(token) is None


def test_alarms_list_ack_404_422_and_gate_confirmation(setup):
    server, gate = setup
    acknowledging(gate)
    client = logged_in(server, "wang")
    forced = gate.emit("forced_open")
    gate.emit("door_opened")
    fever = gate.emit("fever", temperature_c=38.4)
    items = wait_for(lambda: [a for a in client.get("/api/alarms").json()], 10, "alarms listed")
    wait_for(lambda: len(client.get("/api/alarms").json()) == 2, 10, "both alarms")
    items = client.get("/api/alarms").json()
    assert [(a["gate"], a["seq"], a["type"], a["acknowledged"]) for a in items] == [
        (GATE, forced["seq"], "forced_open", False), (GATE, fever["seq"], "fever", False)]
    assert items[0]["ts"] == forced["ts"] and items[0]["gate_name"] == "North gate"
    assert client.post(f"/api/alarms/{GATE}/999/ack", json={"note": "x"}).status_code == 404
    assert client.post("/api/alarms/nogate/1/ack", json={"note": "x"}).status_code == 404
    assert client.post(f"/api/alarms/{GATE}/{forced['seq']}/ack", json={}).status_code == 422
    assert client.post(f"/api/alarms/{GATE}/{forced['seq']}/ack", json={"note": "  "}).status_code == 422
    r = client.post(f"/api/alarms/{GATE}/{forced['seq']}/ack", json={"note": "patrol dispatched"})
    assert r.status_code == 200 and r.json()["gate_confirmed"] is True
    sent = [c for c in gate.commands if c["action"] == "ack"]
    assert sent[-1]["seq"] == forced["seq"] and sent[-1]["by"] == "wang"
    items = {a["seq"]: a for a in client.get("/api/alarms").json()}
    assert items[forced["seq"]]["acknowledged"] is True and items[forced["seq"]]["ack_note"] == "patrol dispatched"
    # The fake gate confirms only forced openings: the fever ack is sent but not confirmed, and says so.
    r = client.post(f"/api/alarms/{GATE}/{fever['seq']}/ack", json={"note": "checked"})
    assert r.status_code == 202 and r.json()["gate_confirmed"] is False and "did not confirm" in r.json()["error"]
    assert {a["seq"]: a for a in client.get("/api/alarms").json()}[fever["seq"]]["state"] == "unconfirmed"
    audit = logged_in(server, "li").get("/api/audit").json()["audit"]
    assert {"login", "ack"} <= {a["action"] for a in audit}


def test_stream_sends_each_stored_record_as_one_json_data_line(setup):
    server, gate = setup
    client = logged_in(server, "wang")
    lines: list[str] = []
    opened = threading.Event()

    def read():
        with client.stream("GET", "/api/stream", timeout=20) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                opened.set()
                if line.startswith("data:"):
                    lines.append(line)
                    if len(lines) == 2:
                        return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    assert opened.wait(10)
    wait_for(lambda: server.hub.subscribers, 5, "stream subscribed")
    a = gate.emit("forced_open", note="<b>x</b>")
    b = gate.emit("door_opened")
    t.join(15)
    got = [json.loads(line[len("data:"):]) for line in lines]
    assert [(r["seq"], r["id"], r["type"]) for r in got] == [(a["seq"], a["id"], "forced_open"), (b["seq"], b["id"], "door_opened")]


def test_board_pages_without_a_hidden_cap_and_orders_by_priority(setup):
    server, gate = setup
    client = logged_in(server, "wang")
    for _ in range(60):
        gate.emit("held_open")
    gate.emit("duress", guard="g1")
    gate.emit("forced_open")
    wait_for(lambda: client.get("/api/board").json()["counts"]["total"] == 62, 15, "62 alarms")
    first = client.get("/api/board?page=1&size=50").json()
    assert first["pages"] == 2 and first["counts"]["open"] == 62 and first["counts"]["new"] == 62
    assert [i["type"] for i in first["items"][:2]] == ["forced_open", "duress"]
    second = client.get("/api/board?page=2&size=50").json()
    assert len(second["items"]) == 12
    assert len(client.get("/api/alarms").json()) == 62


def test_claim_once_and_guards_are_scoped(setup):
    server, gate = setup
    rec = gate.emit("forced_open")
    wang, li, zhao = logged_in(server, "wang"), logged_in(server, "li"), logged_in(server, "zhao")
    wait_for(lambda: wang.get("/api/alarms").json(), 10, "alarm")
    assert wang.post(f"/api/alarms/{GATE}/{rec['seq']}/claim", json={}).status_code == 200
    r = li.post(f"/api/alarms/{GATE}/{rec['seq']}/claim", json={})
    assert r.status_code == 409 and r.json()["claimed_by"] == "wang"
    # The guard of compound c1 sees its gate's alarm but may not handle it; sees no other compound.
    assert [a["gate"] for a in zhao.get("/api/alarms").json()] == [GATE]
    assert zhao.post(f"/api/alarms/{GATE}/{rec['seq']}/ack", json={"note": "x"}).status_code == 403
    assert [g["gate"] for g in zhao.get("/api/gates").json()["gates"]] == [GATE]
    assert zhao.get("/api/gates/other/records").status_code == 404


def test_history_search_and_csv_export(setup):
    server, gate = setup
    client = logged_in(server, "wang")
    gate.emit("access_granted", card="DEADBEEF")
    gate.emit("access_refused", card="CAFEF00D", reason="unknown_card")
    gate.emit("access_refused", card="DEADBEEF", reason="=HYPERLINK(\"http://x\")")
    wait_for(lambda: len(client.get("/api/history").json()["records"]) == 3, 10, "3 records")
    by_card = client.get("/api/history", params={"card": "de:ad:be:ef"}).json()["records"]
    assert [r["type"] for r in by_card] == ["access_refused", "access_granted"]  # newest first
    refused = client.get("/api/history", params={"type": "access_refused", "compound": "c1"}).json()["records"]
    assert len(refused) == 2
    assert client.get("/api/history", params={"compound": "c2"}).json()["records"] == []
    assert client.get("/api/history", params={"since": "2999-01-01"}).json()["records"] == []
    assert client.get("/api/history", params={"since": "yesterday"}).status_code == 422
    csv_text = client.get("/api/history.csv", params={"type": "access_refused"}).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("gate,gate_name,seq,ts,type,card") and len(lines) == 3
    assert "North gate" in lines[1] and "CAFEF00D" in csv_text
    assert "'{" not in csv_text and ',"=' not in csv_text  # a formula from a gate never starts a cell


def test_alarm_detail_has_what_happened_around_it(setup):
    server, gate = setup
    client = logged_in(server, "wang")
    for card in ("A1", "A2", "A3", "A4", "A5", "A6"):
        gate.emit("access_refused", card=card * 4, reason="unknown_card")
    gate.emit("door_opened")
    fever = gate.emit("fever", temperature_c=38.6, card="A6A6A6A6")
    gate.emit("door_closed")
    gate.client.publish(gate.topic("status"), json.dumps({"online": True, "gate": GATE, "door": "closed",
                                                          "lock": "locked", "mode": "normal", "last_seq": fever["seq"] + 1}),
                        qos=1, retain=True)
    d = wait_for(lambda: (r := client.get(f"/api/alarms/{GATE}/{fever['seq']}")).status_code == 200
                 and r.json()["door_now"] == "closed" and len(r.json()["door_events"]) == 2 and r.json(), 10, "detail")
    assert d["alarm"]["gate_name"] == "North gate" and d["alarm"]["compound"] == "c1"
    assert d["alarm"]["details"]["temperature_c"] == 38.6
    assert [r["type"] for r in d["door_events"]] == ["door_closed", "door_opened"]
    assert [r["card"] for r in d["last_attempts"]] == ["A6A6A6A6", "A5A5A5A5", "A4A4A4A4", "A3A3A3A3", "A2A2A2A2"]


def test_commands_need_a_reason_show_the_gates_answer_and_are_audited(setup):
    server, gate = setup
    wang, zhao, li = logged_in(server, "wang"), logged_in(server, "zhao"), logged_in(server, "li")
    wait_for(lambda: wang.get("/api/health").json()["broker_connected"], 5, "broker")
    assert wang.post(f"/api/gates/{GATE}/command", json={"action": "unlock", "seconds": 5}).status_code == 422
    assert wang.post(f"/api/gates/{GATE}/command", json={"action": "unlock", "seconds": 99, "reason": "x"}).status_code == 422
    r = wang.post(f"/api/gates/{GATE}/command", json={"action": "unlock", "seconds": 5, "reason": "ambulance"})
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["answer"].endswith(": ok")
    assert gate.commands[-1]["action"] == "unlock" and gate.commands[-1]["seconds"] == 5
    assert "sig" in gate.commands[-1] and "secret" not in r.text
    r = wang.post(f"/api/gates/{GATE}/command", json={"action": "lockdown", "on": True, "reason": "incident"})
    assert r.status_code == 200 and gate.commands[-1]["on"] is True
    # A guard may release their own compound's gate, not lock it down nor touch another compound.
    assert zhao.post(f"/api/gates/{GATE}/command", json={"action": "unlock", "reason": "delivery"}).status_code == 200
    assert zhao.post(f"/api/gates/{GATE}/command", json={"action": "lockdown", "on": False, "reason": "x"}).status_code == 403
    assert zhao.post("/api/gates/other/command", json={"action": "unlock", "reason": "x"}).status_code == 404
    assert zhao.get("/api/audit").status_code == 403
    audit = li.get("/api/audit").json()["audit"]
    commands = [a for a in audit if a["action"] == "command"]
    assert len(commands) == 3 and any("ambulance" in a["detail"] and a["officer"] == "wang" for a in commands)


def test_pages_send_security_headers_and_escape_in_templates(setup):
    server, _ = setup
    client = logged_in(server, "wang")
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert client.headers["X-CSRF-Token"] in page.text  # in the page's meta tag, never a gate secret
    assert KEY.decode() not in page.text


def test_repeated_wrong_passwords_for_a_name_are_throttled(setup):
    server, _ = setup
    with httpx.Client(base_url=server.url) as anon:
        codes = [anon.post("/api/login", json={"user": "wang", "password": f"guess{i}"}).status_code for i in range(6)]
        assert codes == [401] * 5 + [429]
        assert anon.post("/api/login", json={"user": "wang", "password": PASSWORD}).status_code == 429
        assert anon.post("/api/login", json={"user": "li", "password": PASSWORD}).status_code == 200
