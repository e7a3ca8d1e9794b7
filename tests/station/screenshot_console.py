"""Draws docs/station-console.png: the board with alarms, in headless Chromium, from fake gates on a
private mosquitto. `python tests/station/screenshot_console.py [OUT.png]`."""
from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

from broker import MosquittoBroker  # noqa: E402
from consolekit import ConsoleServer, browser, browser_login, console_config, logged_in  # noqa: E402
from fakegate import FakeGate  # noqa: E402
from gatefixture import wait_for  # noqa: E402

from gate.clock import SystemClock  # noqa: E402
from gate.core.timefmt import format_ts  # noqa: E402
from gate.station.config import GateInfo  # noqa: E402

KEY = b"screenshot-secret-0123456789abcd"


def main(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="console-shot-"))
    secret = tmp / "k"
    secret.write_bytes(KEY)
    gates = {"gucun-47-north": GateInfo("Gucun No. 47 compound, north gate", "gucun-47"),
             "gucun-47-south": GateInfo("Gucun No. 47 compound, south gate", "gucun-47"),
             "linyi-3-east": GateInfo("Linyi Rd No. 3 compound, east gate", "linyi-3")}
    broker = MosquittoBroker().start()
    try:
        cfg = console_config(tmp, broker.port, {g: (secret, i) for g, i in gates.items()})
        fakes = {g: FakeGate(broker.port, g, KEY) for g in gates}
        with ConsoleServer(cfg) as server:
            server.add_officer("officer wang")
            north, south, east = fakes.values()
            south.emit("held_open")
            south.emit("alarm_acknowledged", alarm="held_open", alarm_seq=1, by="station", officer="officer li")
            east.emit("fever", temperature_c=38.4, card="04A1B2C3")
            old = format_ts(SystemClock().wall() - timedelta(seconds=47))
            late = {**east.emit("tamper", publish=False), "ts": old, "historical": True}
            east.journal[late["seq"]] = late
            east.publish_record(late)
            north.emit("access_refused", reason="unknown_card", card="DEADBEEF")
            north.emit("forced_open")
            south.emit("duress", guard="guard-07")
            api = logged_in(server, "officer wang")
            wait_for(lambda: api.get("/api/board").json()["counts"]["total"] == 5, 10, "5 alarms")
            api.post("/api/alarms/gucun-47-south/3/claim", json={})
            with browser() as chromium:
                page = chromium.new_page(viewport={"width": 1400, "height": 560})
                browser_login(page, server, "officer wang")
                page.wait_for_selector("#alarms tr.alarm.state-closed")
                page.screenshot(path=str(out), full_page=True)
        for f in fakes.values():
            f.close()
    finally:
        broker.close()
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/station-console.png"))
