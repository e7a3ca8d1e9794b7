"""The console page in a real headless browser (Debian's Chromium via Playwright), against the real
app and consumer, a real mosquitto and a real simulated gate daemon (`gatectl run`)."""
from __future__ import annotations


import pytest

import re
from zoneinfo import ZoneInfo

from consolekit import PASSWORD, ConsoleServer, browser, browser_login, console_config
from fakegate import FakeGate
from gatefixture import GateProcess, wait_for

from gate.core.timefmt import parse_ts
from gate.station.accounts import Accounts
from gate.station.config import GateInfo

NAME = "Gucun No. 47 compound, north gate"
HOSTILE = '<img src=x onerror="window.__pwned=1">&amp;<script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium):
    # CSP bypassed: Playwright's waits evaluate strings, and escaping must hold without the CSP's help.
    context = chromium.new_context(bypass_csp=True)
    p = context.new_page()
    yield p
    context.close()


def test_forced_opening_sounds_until_claimed_and_the_gates_ack_closes_it(broker, tmp_path, page):
    gate = GateProcess(tmp_path / "gate", port=broker.port, gate_id="gucun-47-north")
    with gate.start():
        cfg = console_config(tmp_path, broker.port,
                             {gate.gate_id: (gate.storage / "command.secret", GateInfo(name=NAME, compound="gucun-47"))})
        with ConsoleServer(cfg) as server:
            server.add_officer("wang")
            browser_login(page, server, "wang")
            assert page.locator("#alarms tbody").inner_text().strip() != ""  # "no alarms" row

            gate.sim("door", position="open")  # nobody was granted: a forced opening
            (seq,), = wait_for(lambda: gate.journal_rows("SELECT seq FROM records WHERE type='forced_open'"), 5,
                               "forced_open journaled")
            forced = {"seq": seq}
            row = page.locator(f'#alarms tr.alarm[data-seq="{forced["seq"]}"]')
            row.wait_for(timeout=10_000)
            assert NAME in row.inner_text() and "state-new" in row.get_attribute("class")
            page.wait_for_function("window.gateConsole.sound.playing === true", timeout=5_000)
            assert page.evaluate("window.gateConsole.sound.ctx.state") == "running"

            row.locator("button.claim").click()
            page.locator(f'#alarms tr.alarm.state-claimed[data-seq="{forced["seq"]}"]').wait_for(timeout=5_000)
            page.wait_for_function("window.gateConsole.sound.playing === false", timeout=5_000)
            assert "wang" in page.locator(f'#alarms tr[data-seq="{forced["seq"]}"] td.state').inner_text()

            page.locator(f'#alarms tr[data-seq="{forced["seq"]}"] td.type').click()
            page.locator("#ack-form").wait_for(state="visible", timeout=5_000)
            page.click("#ack-submit")  # without a note: refused in the page, nothing sent
            assert "note" in page.locator("#detail-message").inner_text().lower()
            assert not gate.records_of("alarm_acknowledged")
            page.select_option("#ack-resolution", index=1)  # "Patrol dispatched"
            page.click("#ack-submit")
            page.wait_for_function("document.querySelector('#detail-message').dataset.status === '200'", timeout=10_000)
            ack = wait_for(lambda: gate.records_of("alarm_acknowledged"), 5, "the gate journaled the ack")[0]
            assert ack["alarm_seq"] == forced["seq"] and ack["officer"] == "wang"
            page.locator(f'#alarms tr.alarm.state-closed[data-seq="{forced["seq"]}"]').wait_for(timeout=5_000)
            audit = [a["action"] for a in server.console.store.audit_log()]
            assert {"login", "claim", "ack"} <= set(audit)


def test_wrong_password_is_refused_in_the_page(broker, tmp_path, page):
    cfg = console_config(tmp_path, broker.port, {})
    with ConsoleServer(cfg) as server:
        server.add_officer("wang")
        page.goto(server.url + "/login")
        page.fill("#login-user", "wang")
        page.fill("#login-password", "not the password")
        page.click("#login-submit")
        page.wait_for_function("document.querySelector('#login-error').textContent.length > 0", timeout=5_000)
        assert page.url == server.url + "/login"
        assert page.evaluate("fetch('/api/alarms').then(r => r.status)") == 401


def test_hostile_gate_name_and_cmd_id_render_as_text(broker, tmp_path, page):
    secret = tmp_path / "s"
    secret.write_bytes(b"k" * 32)
    cfg = console_config(tmp_path, broker.port, {"evil": (secret, GateInfo(name=HOSTILE, compound="c"))})
    gate = FakeGate(broker.port, "evil", b"k" * 32)
    try:
        with ConsoleServer(cfg) as server:
            server.add_officer("wang")
            browser_login(page, server, "wang")
            rec = gate.emit("tamper", cmd_id=HOSTILE, device=HOSTILE)
            row = page.locator(f'#alarms tr.alarm[data-seq="{rec["seq"]}"]')
            row.wait_for(timeout=10_000)
            assert HOSTILE in row.locator("td.gate").inner_text()
            assert HOSTILE in row.locator("td.details").inner_text()
            row.locator("td.type").click()
            page.locator("#detail-title").wait_for(state="visible")
            assert HOSTILE in page.locator("#detail-title").inner_text()
            page.click('nav.tabs button[data-view="gates"]')
            page.locator('#gates tr[data-gate="evil"]').wait_for(timeout=5_000)
            assert HOSTILE in page.locator('#gates tr[data-gate="evil"] td.gate').inner_text()
            assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
            assert page.evaluate("window.__pwned") is None
    finally:
        gate.close()


def test_a_chinese_speaking_officer_sees_chinese_labels_and_station_time(broker, tmp_path, page):
    secret = tmp_path / "s"
    secret.write_bytes(b"k" * 32)
    cfg = console_config(tmp_path, broker.port, {"n": (secret, GateInfo(name="古村47号北门", compound="c"))})
    gate = FakeGate(broker.port, "n", b"k" * 32)
    try:
        with ConsoleServer(cfg) as server:
            with Accounts(cfg.store) as accounts:
                accounts.add_officer("li", PASSWORD, language="zh-CN")
            browser_login(page, server, "li")
            assert "报警" in page.locator("nav.tabs").inner_text()
            rec = gate.emit("forced_open")
            row = page.locator(f'#alarms tr.alarm[data-seq="{rec["seq"]}"]')
            row.wait_for(timeout=10_000)
            assert "强行开门" in row.locator("td.type").inner_text() and "新报警" in row.inner_text()
            local = parse_ts(rec["ts"]).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
            assert local in row.locator("td.when").inner_text()
    finally:
        gate.close()


def test_unlock_from_the_gates_page_with_confirmation_and_reason(broker, tmp_path, page):
    gate = GateProcess(tmp_path / "gate", port=broker.port, gate_id="g-unlock")
    with gate.start():
        cfg = console_config(tmp_path, broker.port,
                             {gate.gate_id: (gate.storage / "command.secret", GateInfo(name="East gate", compound="c"))})
        with ConsoleServer(cfg) as server:
            server.add_officer("wang")
            browser_login(page, server, "wang")
            page.click('nav.tabs button[data-view="gates"]')
            row = page.locator('#gates tr[data-gate="g-unlock"]')
            row.wait_for(timeout=5_000)
            wait_for(lambda: "online" in row.inner_text(), 10, "the gate online on the gates page")
            assert re.fullmatch(r"\d\d:\d\d:\d\d", row.locator("td").nth(3).inner_text().strip())  # station time
            row.locator("button.cmd-unlock").click()
            page.locator("#confirm").wait_for(state="visible")
            assert "East gate" in page.locator("#confirm-text").inner_text()
            page.fill("#confirm-seconds", "10")
            page.fill("#confirm-reason", "ambulance at the gate")
            page.click("#confirm-ok")
            page.wait_for_function("document.querySelector('#command-answer').dataset.ok === 'true'", timeout=10_000)
            assert page.locator("#command-answer").inner_text().endswith(": ok")
            assert gate.sim("state")["lock"] == "unlocked"
            remote = wait_for(lambda: gate.journal_rows("SELECT body FROM records WHERE type='command'"), 5, "journaled")
            assert any('"unlock"' in b for (b,) in remote)


def test_a_claim_left_unacknowledged_escalates_to_the_supervisors_board(broker, tmp_path, page):
    from broker import free_port
    from consolekit import logged_in

    from gate.station.config import WebConfig

    secret = tmp_path / "s"
    secret.write_bytes(b"k" * 32)
    cfg = console_config(tmp_path, broker.port, {"n": (secret, GateInfo(name="North", compound="c"))},
                         web=WebConfig(port=free_port(), escalate_after_seconds=0.5))
    gate = FakeGate(broker.port, "n", b"k" * 32)
    try:
        with ConsoleServer(cfg) as server:
            server.add_officer("wang")
            server.add_officer("li", role="supervisor")
            browser_login(page, server, "li")
            rec = gate.emit("forced_open")
            page.locator(f'#alarms tr.alarm.state-new[data-seq="{rec["seq"]}"]').wait_for(timeout=10_000)
            assert logged_in(server, "wang").post(f"/api/alarms/n/{rec['seq']}/claim", json={}).status_code == 200
            # The claim deadline passes with no acknowledgement: the supervisor's board says so and sounds.
            wait_for(lambda: page.evaluate("loadBoard().then(() => !document.querySelector('#escalation').hidden)"),
                     10, "the escalation banner")
            assert page.locator(f'#alarms tr.alarm.escalated[data-seq="{rec["seq"]}"]').count() == 1
            assert "1" in page.locator("#escalation").inner_text()
            page.wait_for_function("window.gateConsole.sound.playing === true", timeout=5_000)
    finally:
        gate.close()


def test_a_new_alarm_raises_a_desktop_notification_when_permitted(broker, tmp_path, chromium):
    secret = tmp_path / "s"
    secret.write_bytes(b"k" * 32)
    cfg = console_config(tmp_path, broker.port, {"n": (secret, GateInfo(name="North", compound="c"))})
    gate = FakeGate(broker.port, "n", b"k" * 32)
    try:
        with ConsoleServer(cfg) as server:
            server.add_officer("wang")
            context = chromium.new_context(bypass_csp=True)
            context.grant_permissions(["notifications"], origin=server.url)
            page = context.new_page()
            browser_login(page, server, "wang")
            assert page.evaluate("Notification.permission") == "granted"
            gate.emit("door_opened")  # an event: no notification
            rec = gate.emit("forced_open")
            page.wait_for_function(f"window.gateConsole.notified.includes('n/{rec['seq']}')", timeout=10_000)
            assert page.evaluate("window.gateConsole.notified") == [f"n/{rec['seq']}"]
            context.close()
    finally:
        gate.close()


def test_the_page_says_when_the_station_has_lost_its_broker(tmp_path, page):
    from broker import free_port

    cfg = console_config(tmp_path, free_port(), {})  # nothing listens there
    server = ConsoleServer(cfg).start(wait_broker=False)
    try:
        server.add_officer("wang")
        browser_login(page, server, "wang", link="lost")
        assert "lost its broker" in page.locator("#link-state").inner_text()
        assert server.link.consumer is None and server.server.started  # serving while it retries
    finally:
        server.close()
