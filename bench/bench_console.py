"""Web console benchmark: `python bench/bench_console.py` (own mosquitto, a real simulated gate
daemon, the console in-process, Debian's headless Chromium via Playwright).

1. door edge → alarm row visible in the browser: the emulated door contact opens (`gatectl sim door
   open` over the sim socket) with nobody granted; the time until the row of that `forced_open` is in
   the page's DOM (a MutationObserver timestamps it). p50/p99 over 50 forced openings, next to raw
   paho QoS 1 publish → receive on the same broker in the same run.
2. board load with 10,000 stored open alarms: navigation to the board page until its first page of
   rows is drawn, and the `/api/board` answer alone.

`--json` prints the rows for bench/run_all.py (bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "station"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from broker import MosquittoBroker  # noqa: E402
from consolekit import ConsoleServer, browser, browser_login, console_config, logged_in  # noqa: E402
from gatefixture import GateProcess, wait_for  # noqa: E402

from gate.core.timefmt import format_ts  # noqa: E402
from gate.station.config import GateInfo  # noqa: E402
from gate.station.store import StationStore  # noqa: E402
from gate.clock import SystemClock  # noqa: E402

N_OPENINGS = 50
N_STORED = 10_000

OBSERVER = """() => {
  window.__seen = {};
  const tbody = document.querySelector('#alarms tbody');
  new MutationObserver(() => {
    const t = performance.timeOrigin + performance.now();
    for (const tr of tbody.querySelectorAll('tr.alarm')) {
      if (!(tr.dataset.seq in window.__seen)) window.__seen[tr.dataset.seq] = t;
    }
  }).observe(tbody, {childList: true});
}"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def raw_mqtt(port: int, n: int) -> list[float]:
    """paho QoS 1 publish → receive on the same broker, ms."""
    got: dict[int, float] = {}
    cond = threading.Condition()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:6]}")
    ready = threading.Event()
    sub.on_connect = lambda c, *a: c.subscribe("bench/raw", qos=1)
    sub.on_subscribe = lambda *a: ready.set()

    def on_message(c, u, msg):
        with cond:
            got[int(msg.payload)] = time.perf_counter()
            cond.notify_all()

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    ready.wait(5)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    out = []
    for i in range(n + 5):  # the first few warm the connections up
        t0 = time.perf_counter()
        pub.publish("bench/raw", str(i), qos=1)
        with cond:
            cond.wait_for(lambda: i in got, 5)
        if i >= 5:
            out.append((got[i] - t0) * 1000)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return out


def door_to_row(page, gate: GateProcess, n: int) -> list[float]:
    page.evaluate(OBSERVER)
    out = []
    for _ in range(n):
        before = gate.last_seq()
        t0 = time.time() * 1000
        gate.sim("door", position="open")
        seq = wait_for(lambda: next((s for (s,) in gate.journal_rows(
            "SELECT seq FROM records WHERE type='forced_open' AND seq > ?", (before,))), None), 5, "forced_open")
        page.wait_for_function(f"window.__seen['{seq}'] !== undefined", timeout=10_000)
        out.append(page.evaluate(f"window.__seen['{seq}']") - t0)
        gate.sim("door", position="close")
    return out


def board_load(chromium, tmp: Path, broker_port: int) -> tuple[float, float]:
    cfg = console_config(tmp / "big", broker_port, {}, topic_prefix="bench-board")  # away from the gate's topics
    now = SystemClock().wall()
    with StationStore(cfg.store) as store:
        store.add_records([("g", "alarm", {"gate": "g", "seq": s, "id": f"g-{s}", "ts": format_ts(now),
                                           "type": ("forced_open", "held_open", "fever", "tamper")[s % 4],
                                           "historical": False}) for s in range(1, N_STORED + 1)])
    with ConsoleServer(cfg) as server:
        server.add_officer("bench")
        api = logged_in(server, "bench")
        api.get("/api/board")  # warm the page cache once, as a running console would be
        t0 = time.perf_counter()
        counts = api.get("/api/board").json()["counts"]
        api_ms = (time.perf_counter() - t0) * 1000
        assert counts["open"] == N_STORED, counts
        context = chromium.new_context(bypass_csp=True)
        page = context.new_page()
        browser_login(page, server, "bench")
        t0 = time.perf_counter()
        page.goto(server.url + "/")
        page.wait_for_selector("#alarms tr.alarm", timeout=10_000)
        page_ms = (time.perf_counter() - t0) * 1000
        assert str(N_STORED) in page.locator("#counts").inner_text()
        context.close()
    return page_ms, api_ms


def measure(n: int) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    broker = MosquittoBroker().start()
    try:
        reference = raw_mqtt(broker.port, n)
        gate = GateProcess(tmp / "gate", port=broker.port, gate_id="bench-gate")
        with gate.start(), browser() as chromium:
            cfg = console_config(tmp, broker.port, {gate.gate_id: (gate.storage / "command.secret",
                                                                   GateInfo(name="Bench gate"))})
            with ConsoleServer(cfg) as server:
                server.add_officer("bench")
                context = chromium.new_context(bypass_csp=True)
                page = context.new_page()
                browser_login(page, server, "bench")
                latencies = door_to_row(page, gate, n)
                context.close()
            page_ms, api_ms = board_load(chromium, tmp, broker.port)
    finally:
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    p99 = pct(latencies, 99)
    return [
        {"metric": f"door edge -> alarm row in browser p50 ({n} openings)", "ours": f"{pct(latencies, 50):.0f} ms",
         "reference": f"{pct(reference, 50):.2f} ms (raw MQTT)", "target": None, "met": None},
        {"metric": f"door edge -> alarm row in browser p99 ({n} openings)", "ours": f"{p99:.0f} ms",
         "reference": f"{pct(reference, 99):.2f} ms (raw MQTT)", "target": "<= 250 ms", "met": p99 <= 250},
        {"metric": f"board page load, {N_STORED:,} open alarms", "ours": f"{page_ms:.0f} ms",
         "reference": f"{api_ms:.0f} ms (/api/board alone)", "target": "<= 1000 ms", "met": page_ms <= 1000},
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    ap.add_argument("--openings", type=int, default=N_OPENINGS)
    args = ap.parse_args()
    rows = measure(args.openings)
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['metric']:<52} {r['ours']!s:>10} {r['reference']!s:>28} {r['target']!s:>10} {r['met']!s:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
