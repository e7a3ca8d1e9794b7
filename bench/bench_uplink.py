"""Uplink benchmark: `python bench/bench_uplink.py` prints one table (own mosquitto via tests/broker.py).

1. door edge → `forced_open` at a station subscriber (in-process daemon, simulated hardware), p50/p99,
   next to raw paho QoS 1 publish → receive in the same run;
2. backlog drain: 10,000 journaled records to a subscriber after the uplink (re)connects, next to raw
   paho QoS 1 throughput;
3. journal write rate with the chosen durability (one record per transaction, both classes).

`--json` prints the headline rows for bench/run_all.py instead (see bench/README.md).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from broker import MosquittoBroker  # noqa: E402
from gate.config.schema import parse_config  # noqa: E402
from gate.runtime.daemon import GateDaemon  # noqa: E402
from gate.store.journal import Journal  # noqa: E402
from gate.uplink.session import SessionSettings  # noqa: E402
from gate.uplink.link import Uplink  # noqa: E402

N_LATENCY = 200
N_DRAIN = 10_000
N_WRITES = 2_000


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Sub:
    """A subscriber that timestamps every message and lets the caller wait for a predicate."""

    def __init__(self, port, topic):
        self.cond = threading.Condition()
        self.msgs: list[tuple[float, str, bytes]] = []
        self.counts: dict[str, int] = {}  # records per type, parsed once on arrival
        self.last_seen: dict[str, float] = {}
        self.per_topic: dict[str, int] = {}  # messages per last topic level (event, alarm, status...)
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{time.monotonic_ns()}")
        ready = threading.Event()
        self.c.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        ready.wait(10)

    def _on_message(self, _c, _u, msg):
        # Stamp before taking the lock: the waiting side evaluates its predicate under it, and that
        # time must not be charged to the gate.
        stamp = time.perf_counter()
        kind = None
        if not msg.topic.endswith("/status"):
            try:
                kind = json.loads(msg.payload).get("type")
            except ValueError:
                pass
        with self.cond:
            self.msgs.append((stamp, msg.topic, msg.payload))
            if kind is not None:
                self.counts[kind] = self.counts.get(kind, 0) + 1
                self.last_seen[kind] = stamp
            suffix = msg.topic.rsplit("/", 1)[-1]
            self.per_topic[suffix] = self.per_topic.get(suffix, 0) + 1
            self.cond.notify_all()

    def wait(self, pred, timeout=30.0):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.msgs), timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def raw_latency(port):
    sub = Sub(port, "raw/lat")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    out = []
    for i in range(N_LATENCY):
        n = len(sub.msgs)
        t0 = time.perf_counter()
        pub.publish("raw/lat", b"x" * 200, qos=1)
        sub.wait(lambda m: len(m) > n)
        out.append((sub.msgs[-1][0] - t0) * 1000)
    pub.loop_stop()
    pub.disconnect()
    sub.close()
    return out


def gate_latency(port, tmp):
    (tmp / "secret").write_text("bench-secret\n")
    cfg = parse_config({
        "gate": {"id": "bench"}, "storage": {"dir": str(tmp / "state")}, "hardware": {"mode": "simulated"},
        "mqtt": {"port": port, "command_secret_file": str(tmp / "secret")}, "door": {"debounce_ms": 0},
    }, tmp)
    daemon = GateDaemon(cfg)
    daemon.start()
    stop = threading.Event()
    runner = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    runner.start()
    sub = Sub(port, "compound/bench/#")
    daemon.uplink.wait_idle(10)
    sim = daemon.hardware.simulator
    out = []

    try:
        for i in range(N_LATENCY):
            n_forced = sub.counts.get("forced_open", 0)
            n_closed = sub.counts.get("door_closed", 0)
            t0 = time.perf_counter()
            sim.door("open")
            sub.wait(lambda m: sub.counts.get("forced_open", 0) > n_forced)
            out.append((sub.last_seen["forced_open"] - t0) * 1000)
            sim.door("close")
            sub.wait(lambda m: sub.counts.get("door_closed", 0) > n_closed)
    finally:
        sub.close()
        stop.set()
        daemon.request_stop()
        runner.join(5)
        daemon.close()
    return out


def raw_throughput(port):
    sub = Sub(port, "raw/tp")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub-tp")
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    payload = b"x" * 200
    t0 = time.perf_counter()
    for i in range(N_DRAIN):
        pub.publish("raw/tp", payload, qos=1)
    sub.wait(lambda m: len(m) >= N_DRAIN, 120)
    dt = time.perf_counter() - t0
    pub.loop_stop()
    pub.disconnect()
    sub.close()
    return N_DRAIN / dt


def drain(port, tmp):
    journal = Journal(tmp / "drain.db", "drain")
    for start in range(0, N_DRAIN, 1000):
        journal.append_many([("door_opened", {"n": start + i}) for i in range(1000)])
    sub = Sub(port, "compound/drain/#")
    settings = SessionSettings("127.0.0.1", port, client_id="gate-drain", max_in_flight=100)
    uplink = Uplink(journal, settings, gate_id="drain", topic_prefix="compound")
    t0 = time.perf_counter()
    uplink.start()
    sub.wait(lambda m: sub.per_topic.get("event", 0) >= N_DRAIN, 120)
    dt = time.perf_counter() - t0
    uplink.wait_idle(30)
    backlog = journal.backlog()
    uplink.close()
    sub.close()
    journal.close()
    return N_DRAIN / dt, backlog


def write_rate(tmp, record_type):
    with Journal(tmp / f"w-{record_type}.db", "w") as j:
        t0 = time.perf_counter()
        for i in range(N_WRITES):
            j.append(record_type, {"n": i})
        return N_WRITES / (time.perf_counter() - t0)


TARGET_P99_MS, TARGET_DRAIN, TARGET_WRITES = 20.0, 2000, 1000


def json_rows(gate, raw, drain_rate, left, raw_tp, normal, full) -> list[dict]:
    """The headline metrics as bench/run_all.py rows; reference = raw paho in the same run."""
    return [
        {"metric": "door edge -> forced_open at subscriber, p50", "ours": f"{statistics.median(gate):.2f} ms",
         "reference": f"{statistics.median(raw):.2f} ms", "target": None, "met": None},
        {"metric": "door edge -> forced_open at subscriber, p99", "ours": f"{pct(gate, 99):.2f} ms",
         "reference": f"{pct(raw, 99):.2f} ms", "target": f"<= {TARGET_P99_MS:g} ms",
         "met": pct(gate, 99) <= TARGET_P99_MS},
        {"metric": f"backlog drain, {N_DRAIN:,} journaled records", "ours": f"{drain_rate:,.0f} rec/s",
         "reference": f"{raw_tp:,.0f} msg/s", "target": f">= {TARGET_DRAIN:,} rec/s",
         "met": drain_rate >= TARGET_DRAIN and left == 0},
        {"metric": "journal append, ordinary (synchronous=NORMAL)", "ours": f"{normal:,.0f} rec/s",
         "reference": None, "target": f">= {TARGET_WRITES:,} rec/s", "met": normal >= TARGET_WRITES},
        {"metric": "journal append, security (synchronous=FULL)", "ours": f"{full:,.0f} rec/s",
         "reference": None, "target": f">= {TARGET_WRITES:,} rec/s", "met": full >= TARGET_WRITES},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    args = ap.parse_args()
    broker = MosquittoBroker().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    try:
        raw = raw_latency(broker.port)
        gate = gate_latency(broker.port, tmp)
        raw_tp = raw_throughput(broker.port)
        drain_rate, left = drain(broker.port, tmp)
        normal = write_rate(tmp, "door_opened")
        full = write_rate(tmp, "access_refused")
    finally:
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(json_rows(gate, raw, drain_rate, left, raw_tp, normal, full)))
        return 0
    rows = [
        ("door edge -> forced_open at subscriber, p50", f"{statistics.median(gate):.2f} ms", "", ""),
        ("door edge -> forced_open at subscriber, p99", f"{pct(gate, 99):.2f} ms", "<= 20 ms",
         "ok" if pct(gate, 99) <= 20 else "MISSED"),
        ("raw paho QoS1 publish -> receive, p50", f"{statistics.median(raw):.2f} ms", "", ""),
        ("raw paho QoS1 publish -> receive, p99", f"{pct(raw, 99):.2f} ms", "", ""),
        (f"backlog drain, {N_DRAIN:,} records after connect", f"{drain_rate:,.0f} rec/s", ">= 2,000 rec/s",
         "ok" if drain_rate >= 2000 and left == 0 else "MISSED"),
        (f"raw paho QoS1 throughput, {N_DRAIN:,} msgs", f"{raw_tp:,.0f} msg/s", "", ""),
        ("journal append, ordinary (synchronous=NORMAL)", f"{normal:,.0f} rec/s", ">= 1,000 rec/s",
         "ok" if normal >= 1000 else "MISSED"),
        ("journal append, security (synchronous=FULL)", f"{full:,.0f} rec/s", ">= 1,000 rec/s",
         "ok" if full >= 1000 else "MISSED"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{w}} | {'result':>14} | {'target':>14} |        |")
    print(f"|{'-' * (w + 2)}|{'-' * 16}|{'-' * 16}|--------|")
    for name, value, target, verdict in rows:
        print(f"| {name:<{w}} | {value:>14} | {target:>14} | {verdict:<6} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
