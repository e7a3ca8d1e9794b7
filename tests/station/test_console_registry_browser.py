"""The registry and report pages in a real headless Chromium (Debian's, via Playwright) against the
real app and consumer on a real mosquitto: add, search, revoke, a GB18030 CSV import refused for a
bad line and then applied, markup in names shown as text, a guard's read-only page, the report."""
from __future__ import annotations

import pytest

from consolekit import ConsoleServer, browser_login, console_config
from test_console_browser import HOSTILE as MARKUP
from test_console_browser import chromium  # noqa: F401  (the module's one headless Chromium)

from gate.station.config import GateInfo
from gate.station.registry import StationRegistry
from gate.station.store import open_station_store

C = "gucun-47"
HOSTILE = MARKUP + "王丽"


@pytest.fixture
def server(broker, tmp_path):
    secret = tmp_path / "gate.secret"
    secret.write_bytes(b"registry-browser-secret-0123456789")
    cfg = console_config(tmp_path, broker.port, {"north": (secret, GateInfo(name="North gate", compound=C)),
                                                 "south": (secret, GateInfo(name="South gate", compound=C)),
                                                 "east": (secret, GateInfo(name="East gate", compound="c2"))})
    with ConsoleServer(cfg) as s:
        s.add_officer("wang")
        s.add_officer("zhao", role="guard", compound=C)
        yield s


def open_page(chromium, server, user: str, path: str):
    # CSP bypassed: Playwright's waits evaluate strings, and escaping must hold without the CSP's help.
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # the confirm() before a revoke or an import
    browser_login(page, server, user)
    page.goto(server.url + path)
    return context, page


def wait_status(page, element: str, status: int) -> str:
    page.wait_for_function(f"document.querySelector('#{element}').dataset.status === '{status}'", timeout=10_000)
    text = page.locator(f"#{element}").inner_text()
    page.evaluate(f"document.querySelector('#{element}').dataset.status = ''")
    return text


def version(server) -> int:
    with StationRegistry(server.cfg.store) as reg:
        return reg.current(C).version


def test_officer_adds_searches_revokes_and_imports_a_gb18030_csv(chromium, server):
    context, page = open_page(chromium, server, "wang", "/registry")
    try:
        page.wait_for_function("window.gateRegistry !== undefined")
        page.select_option("#registry-compound", C)  # c2 comes first
        page.fill("#add-card", "DE:AD:BE:EF")
        page.fill("#add-name", HOSTILE)
        page.fill("#add-household", "3-201")
        page.click("#add-submit")
        assert "north, south" in wait_status(page, "registry-message", 200)
        row = page.locator('#registry-results tr[data-card="DEADBEEF"]')
        row.wait_for(timeout=5_000)
        assert row.locator("td.name").inner_text() == HOSTILE  # shown as text, never run as markup
        assert page.locator("#registry-results img, #registry-results script").count() == 0
        assert page.evaluate("window.__pwned") is None

        row.locator("button.revoke").click()
        wait_status(page, "registry-message", 200)
        page.locator('#registry-results tr.pass.revoked[data-card="DEADBEEF"]').wait_for(timeout=5_000)
        assert version(server) == 2

        bad = "card,name,household\nAABBCCDD,王丽,3-201\nNOTHEX,赵敏,3-202\n".encode("gb18030")
        page.set_input_files("#registry-import-file", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": bad}])
        page.click("#import-submit")
        assert "line 3" in wait_status(page, "registry-message", 422) and version(server) == 2  # nothing applied

        good = "card,name,household\nAABBCCDD,王丽,3-201\n11223344,赵敏,3-202\n".encode("gb18030")
        page.set_input_files("#registry-import-file", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": good}])
        page.click("#import-submit")
        assert "GB18030" in wait_status(page, "registry-message", 200) and version(server) == 3
        page.fill("#registry-q", "赵")
        page.click("#registry-search-form button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#registry-results tbody tr').length === 1")
        assert page.locator("#registry-results tbody tr td.card").inner_text() == "11223344"
        # No gate has reported a version: both are behind the current one.
        page.wait_for_function("document.querySelectorAll('#registry-drift tr.gate.behind').length === 2")
    finally:
        context.close()


def test_guard_searches_own_compound_only_and_reports_page_escapes(chromium, server):
    with StationRegistry(server.cfg.store) as reg:
        from gate.core.passes import make_pass
        reg.add(C, make_pass("0A0B0C0D", HOSTILE, "3-201"))
        reg.add("c2", make_pass("01020304", "Somebody else", "1-101"))
    context, page = open_page(chromium, server, "zhao", "/registry")
    try:
        page.locator('#registry-results tr[data-card="0A0B0C0D"]').wait_for(timeout=5_000)
        assert page.locator("#registry-compound option").all_inner_texts() == [C]
        assert page.locator("#registry-add-form, #registry-import-form, button.revoke").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert page.goto(server.url + "/reports").status == 403
    finally:
        context.close()

    fields = {"card": "0A0B0C0D", "reader": "main", "direction": "exit", "name": HOSTILE, "household": "3-201",
              "pass_type": "resident", "quarantine_until": "2026-12-10T16:00:00.000Z"}
    with open_station_store(server.cfg.store) as store:
        store.add_records([("north", "alarm", {"gate": "north", "seq": 1, "id": "n1", "ts": "2026-12-01T16:30:00.000Z",
                                               "type": "quarantine_exit", "historical": False, **fields})])
    context, page = open_page(chromium, server, "wang", "/reports")
    try:
        page.select_option("#report-compound", C)
        page.fill("#report-date", "2026-12-02")
        page.click("#report-submit")
        cell = page.locator("#report-quarantine tbody tr td.name")
        cell.wait_for(timeout=5_000)
        assert cell.inner_text() == HOSTILE and page.evaluate("window.__pwned") is None
        assert page.locator("#report-quarantine td.first_local").inner_text() == "2026-12-02T00:30:00+08:00"
        href = page.locator("#report-csv").get_attribute("href")
        assert href == f"/api/reports/{C}/2026-12-02.csv?lang=en"
        with page.expect_download() as download:
            page.click("#report-csv")
        assert open(download.value.path(), "rb").read().startswith("\ufeffCompound,gucun-47".encode())
    finally:
        context.close()
