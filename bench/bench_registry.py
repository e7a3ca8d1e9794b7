"""Issue 19: a 100,000-pass full registry sync to two real simulated gates of one compound.

Two `gatectl run` daemons (tests/gatefixture.py) on one mosquitto; `gatectl station passes import` of
N passes (a subprocess, as an officer runs it). Rows: seconds from the start of the import command
until both gates hold the new version (their registry_meta row), and the gate's tap -> decision
latency p50/p99 during the sync, next to the same taps on an idle gate (the reference). The latency of
one tap is the decision record's `ts` minus the wall time just before the sim socket was told to tap
(same machine clock, millisecond resolution).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from broker import MosquittoBroker  # noqa: E402
from gatefixture import GateProcess, wait_for  # noqa: E402

from gate.core.timefmt import parse_ts  # noqa: E402

TARGET_SYNC_S = 30.0
COMPOUND = "bench-compound"


def held_version(gate: GateProcess) -> int:
    path = gate.storage / "registry.db"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT version FROM registry_meta").fetchone()
        return row[0] if row else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def write_roster(path: Path, n: int, start: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("card,name,household\n")
        for i in range(n):
            f.write(f"{start + i:08X},Resident {i},{i // 4}-{i % 4}\n")


def tap_latencies(gate: GateProcess, cards: list[str], stop: threading.Event | None = None) -> list[float]:
    """ms from the tap to its decision record, one distinct card per tap, until `stop` or cards run out."""
    out = []
    for card in cards:
        if stop is not None and stop.is_set():
            break
        wait_for(lambda: not gate.sim("state").get("cards_in_field"), 5, "the field empty", interval=0.005)
        before = gate.last_seq()
        sent = datetime.now(timezone.utc)
        gate.sim("tap", uid=card, hold=0.1)

        def decided():
            for ts, body in gate.journal_rows("SELECT ts, body FROM records WHERE seq > ? AND type IN "
                                              "('access_granted', 'access_refused')", (before,)):
                if json.loads(body).get("card") == card:
                    return ts
        try:
            ts = wait_for(decided, 10, f"decision for {card}", interval=0.005)
        except AssertionError:
            print("\n".join(gate.log_text().splitlines()[-15:]), file=sys.stderr)
            raise
        out.append((parse_ts(ts) - sent).total_seconds() * 1000.0)
    return out


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run(passes: int) -> list[dict]:
    broker = MosquittoBroker().start()
    with tempfile.TemporaryDirectory(prefix="bench_registry_") as tmp_s:
        tmp = Path(tmp_s)
        gates = [GateProcess(tmp / g, port=broker.port, gate_id=g, secret=f"{g}-secret-0123456789abcdef0123456789".encode())
                 for g in ("north", "south")]
        toml = tmp / "station.toml"
        toml.write_text(f'[station]\nclient_id = "bench-{uuid.uuid4().hex[:6]}"\nstore = "{tmp / "station.db"}"\n'
                        f'[mqtt]\nport = {broker.port}\n' + "".join(
                            f'[gates."{g.gate_id}"]\nsecret_file = "{g.storage / "command.secret"}"\n'
                            f'compound = "{COMPOUND}"\n' for g in gates))
        roster = tmp / "roster.csv"
        write_roster(roster, passes, 0x10000000)
        try:
            for g in gates:
                g.start()
            idle = tap_latencies(gates[0], [f"{0xE0000000 + i:08X}" for i in range(60)])
            stop = threading.Event()
            during: list[float] = []
            tapper = threading.Thread(target=lambda: during.extend(
                tap_latencies(gates[0], [f"{0xF0000000 + i:08X}" for i in range(100_000)], stop)))
            t0 = time.monotonic()
            tapper.start()
            cmd = subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(toml), "passes", "import",
                                  str(roster), "--compound", COMPOUND], capture_output=True, text=True, timeout=300)
            if cmd.returncode != 0:
                raise RuntimeError(f"import failed: {cmd.stdout}{cmd.stderr}")
            try:
                wait_for(lambda: all(held_version(g) == 1 for g in gates), 120, "both gates hold version 1",
                         interval=0.02)
            except AssertionError:
                for g in gates:
                    print("\n".join(l for l in g.log_text().splitlines() if "registry" in l)[-3000:], file=sys.stderr)
                raise
            sync_s = time.monotonic() - t0
            stop.set()
            tapper.join(30)
        finally:
            for g in gates:
                g.stop()
            broker.close()
    return [
        {"metric": f"full sync, {passes:,} passes, 2 gates: s until both hold it", "ours": f"{sync_s:.1f} s",
         "reference": "-", "target": f"<= {TARGET_SYNC_S:g} s", "met": sync_s <= TARGET_SYNC_S},
        {"metric": "tap -> decision p50 during the sync", "ours": f"{p(during, 50):.1f} ms",
         "reference": f"{p(idle, 50):.1f} ms idle", "target": None, "met": None},
        {"metric": "tap -> decision p99 during the sync", "ours": f"{p(during, 99):.1f} ms",
         "reference": f"{p(idle, 99):.1f} ms idle", "target": "report", "met": None},
        {"metric": "taps decided during the sync", "ours": len(during), "reference": f"{len(idle)} idle",
         "target": None, "met": None},
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passes", type=int, default=100_000)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    a = ap.parse_args()
    rows = run(a.passes)
    if a.json:
        print(json.dumps(rows))
        return 0
    print(f"{'metric':<58} {'ours':>10} {'reference':>16} {'target':>10}  ok")
    for r in rows:
        ok = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['metric']:<58} {str(r['ours']):>10} {str(r['reference']):>16} {str(r['target'] or ''):>10}  {ok}")
    return 0 if all(r["met"] in (None, True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
