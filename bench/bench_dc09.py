"""DC-09 benchmark: `python bench/bench_dc09.py` prints one table; `--json` the rows for run_all.

1. door edge → pysiaalarm callback (Contact ID 423) over the gate's own DC-09 path: an in-process
   simulated GateDaemon (no MQTT) with `[[receivers]]` → pysiaalarm's TCP server on loopback, 50
   forced openings (each closed again, whose restore is awaited too), p50/p99;
   plain and AES-256;
2. the reference in the same run: one ready-made frame written on an open TCP connection →
   pysiaalarm callback (the wire and the receiver alone, none of our code);
3. the forwarder's cost to its caller (`submit`, the outbox write on the consumer's or the door
   loop's thread), p50/p99.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from gate.config.schema import parse_config  # noqa: E402
from gate.dc09.frame import Message  # noqa: E402
from gate.dc09.link import ReceiverSettings  # noqa: E402
from gate.dc09.service import Dc09Forwarder  # noqa: E402
from gate.runtime.daemon import GateDaemon  # noqa: E402
from siareceiver import SiaReceiver  # noqa: E402

N = 50
KEY = "0123456789ABCDEF0123456789ABCDEF"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def gate_latency(tmp: Path, key: str | None) -> list[float]:
    stamps: list[float] = []
    with SiaReceiver({"4711": key}, on_event=lambda e: stamps.append(time.perf_counter())) as rx:
        entry = {"host": "127.0.0.1", "port": rx.port, "account": "4711", "supervision_seconds": 0}
        if key:
            (tmp / "arc.key").write_text(key + "\n")
            entry["key_file"] = str(tmp / "arc.key")
        cfg = parse_config({"gate": {"id": "bench"}, "storage": {"dir": str(tmp / f"state-{bool(key)}")},
                            "hardware": {"mode": "simulated"}, "mqtt": {"enabled": False},
                            "door": {"debounce_ms": 0}, "receivers": [entry]}, tmp)
        daemon = GateDaemon(cfg)
        daemon.start()
        stop = threading.Event()
        runner = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
        runner.start()
        sim = daemon.hardware.simulator
        out = []
        try:
            for _ in range(N):
                n = len(rx.events)
                t0 = time.perf_counter()
                sim.door("open")
                rx.wait(lambda ev: len(ev) > n and ev[-1]["event_type"] == "423", what="forced opening")
                out.append((stamps[n] - t0) * 1000)
                sim.door("close")
                rx.wait(lambda ev: len(ev) > n + 1, what="its restore")
        finally:
            stop.set()
            daemon.request_stop()
            runner.join(5)
            daemon.close()
    return out


def raw_latency() -> list[float]:
    stamps: list[float] = []
    with SiaReceiver({"4711": None}, on_event=lambda e: stamps.append(time.perf_counter())) as rx:
        sock = socket.create_connection(("127.0.0.1", rx.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for i in range(N):
            frame = Message("ADM-CID", i + 1, "4711", "#4711|1423 01 001").encode(datetime.now(timezone.utc))
            n = len(rx.events)
            t0 = time.perf_counter()
            sock.sendall(frame)
            rx.wait(lambda ev: len(ev) > n)
            out.append((stamps[n] - t0) * 1000)
            sock.recv(1024)  # its ACK
        sock.close()
    return out


def submit_cost(tmp: Path) -> list[float]:
    # A receiver that is never there: submit() must cost the same whatever the link does.
    s = ReceiverSettings(name="arc", addresses=(("127.0.0.1", 9),), account="4711", supervision_seconds=0,
                         retry_initial_seconds=5, retry_max_seconds=5)
    out = []
    with Dc09Forwarder([s], tmp / "submit.db") as fwd:
        for i in range(200):
            rec = {"gate": "g", "seq": i + 1, "type": "forced_open", "ts": datetime.now(timezone.utc).isoformat()}
            t0 = time.perf_counter()
            fwd.submit(rec)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def measure() -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        plain = gate_latency(tmp, None)
        enc = gate_latency(tmp, KEY)
        raw = raw_latency()
        cost = submit_cost(tmp)
    ref = f"{statistics.median(raw):.2f} / {pct(raw, 99):.2f} ms"
    return [
        {"metric": f"door edge -> receiver callback (CID 423), p50 / p99, {N} openings", "ours":
            f"{statistics.median(plain):.2f} / {pct(plain, 99):.2f} ms", "reference": ref, "target": None, "met": None},
        {"metric": f"same, AES-256, p50 / p99", "ours": f"{statistics.median(enc):.2f} / {pct(enc, 99):.2f} ms",
         "reference": ref, "target": None, "met": None},
        {"metric": "forwarder submit() on the caller's thread, p50 / p99", "ours":
            f"{statistics.median(cost):.2f} / {pct(cost, 99):.2f} ms", "reference": "-", "target": None, "met": None},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    args = ap.parse_args()
    rows = measure()
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'metric':<66} {'ours':>20} {'reference (raw TCP frame)':>26}")
        for r in rows:
            print(f"{r['metric']:<66} {r['ours']!s:>20} {r['reference']!s:>26}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
