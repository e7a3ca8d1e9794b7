"""Station ingest benchmark: 100 simulated gates -> mosquitto -> one station console.

    python bench/bench_station.py [--gates 100] [--flood 200] [--rate 20] [--seconds 8] [--json]

Phase 1 (flood): every gate publishes --flood records as fast as it can; records/s stored by the console
(one SQLite transaction per batch), first publish to last commit. Every record carries its gate's MAC
(as real gates' do) and the console verifies each one with that gate's key.
Phase 2 (steady load): every gate publishes --rate records/s for --seconds, every 10th one an alarm;
end-to-end alarm latency = gate publish -> console has stored it and called its listener.
Starts its own mosquitto (tests/broker.py); bounded to well under a minute. The issue sets no figure to
meet, so `--json` (bench/run_all.py) reports these with target "report".
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from broker import MosquittoBroker  # noqa: E402

from gate.station.config import StationConfig  # noqa: E402
from gate.station.consumer import Received, StationConsumer  # noqa: E402
from gate.core.timefmt import format_ts  # noqa: E402
from gate.clock import SystemClock  # noqa: E402
from gate.uplink.signing import sign_record  # noqa: E402

PREFIX = "bench"


class SimGate:
    """A lightweight publisher: one paho client, a seq counter, no journal."""

    def __init__(self, port: int, name: str, key: bytes):
        self.name, self.seq, self.key = name, 0, key
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{name}")
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()

    def publish(self, alarm: bool = False) -> None:
        self.seq += 1
        kind = "alarm" if alarm else "event"
        rec = {"gate": self.name, "seq": self.seq, "id": uuid.uuid4().hex, "ts": format_ts(SystemClock().wall()),
               "type": "forced_open" if alarm else "access_granted", "historical": False,
               "card": "04A1B2C3", "bench_sent": time.perf_counter()}
        self.client.publish(f"{PREFIX}/{self.name}/{kind}", json.dumps(sign_record(rec, self.key)), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def json_rows(args: argparse.Namespace, m: dict) -> list[dict]:
    """Headline rows for bench/run_all.py: no fixed target in the issue, so the target is "report"."""
    load = f"{args.gates} gates x {args.rate:g}/s"
    ms = sorted(m["latencies_ms"])
    complete = m["flood_stored"] >= m["flood_total"]
    return [
        {"metric": f"flood: records/s stored, {args.gates} gates x {args.flood}",
         "ours": f"{m['flood_rate']:,.0f} rec/s", "reference": None, "target": "report", "met": None},
        {"metric": "flood: records stored of sent", "ours": f"{m['flood_stored']:,} of {m['flood_total']:,}",
         "reference": None, "target": "all", "met": complete},
        {"metric": f"steady: records/s stored, {load}", "ours": f"{m['steady_rate']:,.0f} rec/s",
         "reference": f"{args.gates * args.rate:,.0f} rec/s offered", "target": "report", "met": None},
        {"metric": f"alarm latency p50, {load}", "ours": f"{statistics.median(ms):.2f} ms" if ms else "-",
         "reference": None, "target": "report", "met": None},
        {"metric": f"alarm latency p99, {load}", "ours": f"{pct(ms, 99):.2f} ms" if ms else "-",
         "reference": None, "target": "report", "met": None},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", type=int, default=100)
    ap.add_argument("--flood", type=int, default=200, help="records per gate in the flood phase")
    ap.add_argument("--rate", type=float, default=20.0, help="records/s per gate in the steady phase")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the steady phase")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-station-"))
    broker = MosquittoBroker().start()
    latencies: list[float] = []
    lock = threading.Lock()

    def on_record(item: Received) -> None:
        if item.kind == "alarm" and item.outcome == "new":
            with lock:
                latencies.append(time.perf_counter() - item.record["bench_sent"])

    names = [f"gate-{i:03d}" for i in range(args.gates)]
    for name in names:
        (tmp / f"{name}.secret").write_text(uuid.uuid4().hex)
    cfg = StationConfig(client_id="bench-station", store=str(tmp / "station.db"), port=broker.port,
                        topic_prefix=PREFIX, grace_seconds=5.0, retry_initial_seconds=5.0,
                        gate_secrets={n: str(tmp / f"{n}.secret") for n in names})
    gates: list[SimGate] = []
    rows: list[tuple[str, str]] = []
    measured: dict = {}
    try:
        with StationConsumer(cfg, on_record=on_record) as console:
            gates = [SimGate(broker.port, n, (tmp / f"{n}.secret").read_bytes()) for n in names]
            total = args.gates * args.flood
            t0 = time.perf_counter()
            for _ in range(args.flood):
                for g in gates:
                    g.publish()
            complete = wait_until(lambda: console.store.count() >= total, 45)
            flood_s = time.perf_counter() - t0
            stored = console.store.count()
            rows.append(("flood: records stored", f"{stored:,} of {total:,}" + ("" if complete else " (TIMED OUT)")))
            rows.append(("flood: records/s stored", f"{stored / flood_s:,.0f}"))
            measured.update(flood_stored=stored, flood_total=total, flood_rate=stored / flood_s)

            before = console.store.count()
            interval = 1.0 / args.rate
            start = time.perf_counter()
            tick = 0
            while time.perf_counter() - start < args.seconds:
                for g in gates:
                    g.publish(alarm=(tick % 10 == 0))
                tick += 1
                sleep = start + tick * interval - time.perf_counter()
                if sleep > 0:
                    time.sleep(sleep)
            expected = before + tick * args.gates
            wait_until(lambda: console.store.count() >= expected, 20)
            steady_s = time.perf_counter() - start
            rows.append(("steady: offered load", f"{args.gates} gates x {args.rate:g}/s = {args.gates * args.rate:,.0f} rec/s"))
            rows.append(("steady: records/s stored", f"{(console.store.count() - before) / steady_s:,.0f}"))
            rows.append(("steady: alarms measured", f"{len(latencies):,}"))
            measured.update(steady_rate=(console.store.count() - before) / steady_s, latencies_ms=[
                x * 1000 for x in latencies])
            if latencies:
                ms = [x * 1000 for x in latencies]
                rows.append(("alarm latency p50", f"{statistics.median(ms):.2f} ms"))
                rows.append(("alarm latency p99", f"{pct(ms, 99):.2f} ms"))
                rows.append(("alarm latency max", f"{max(ms):.2f} ms"))
            rows.append(("gaps at the end", str(len(console.store.gaps()))))
            rows.append(("records unverified / invalid", f"{console.stats['unverified']} / {console.stats['invalid']}"))
    finally:
        for g in gates:
            g.close()
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(json_rows(args, measured)))
        return 0
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 30}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
