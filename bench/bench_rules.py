"""Community-rules scale benchmark: prints a table (not a test).

    python bench/bench_rules.py [--passes 1000000] [--import-rows 100000] [--json]

1. decision latency with every rule on, against a store of --passes passes (p50/p99 of decide());
2. CSV import of --import-rows passes (parse + validate + one transaction);
3. RSS of a fresh daemon-like process holding the stores (100,000 passes) and the rules.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.core.passes import Pass, parse_pass_csv
from gate.store.passes import PassStore  # noqa: E402

TARGET_P99_MS, TARGET_IMPORT_S, TARGET_RSS_MB = 0.2, 10.0, 40.0
TYPES = ("resident",) * 8 + ("worker", "visitor")
CONFIG = """[gate]
timezone = "Asia/Shanghai"
[storage]
dir = "{dir}"
[rules]
anti_passback = "hard"
exit_quota = 1
quota_period_days = 2
outing_limit_minutes = 120
unknown_card_attempts = 3
[rules.schedules]
worker = ["mon-fri 07:00-19:00", "sat 08:00-12:00"]
visitor = ["daily 08:00-22:00"]
"""


def card_of(i: int) -> str:
    return f"{i * 2654435761 % 2**32:08X}"  # spread over the key space like real UIDs


def fill(store: PassStore, n: int) -> None:
    chunk = 100_000
    for start in range(0, n, chunk):
        store.upsert_many(
            Pass(card_of(i), f"Resident {i}", f"{i // 3 // 100}-{i // 3 % 100}", TYPES[i % 10])
            for i in range(start, min(n, start + chunk))
        )


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def bench_decisions(d: Path, n: int, samples: int) -> tuple[float, float, float]:
    from gate.config.schema import load_config
    from gate.runtime.rules_setup import build_rules

    cfg_path = d / "gate.toml"
    cfg_path.write_text(CONFIG.format(dir=d))
    cfg = load_config(cfg_path, check_paths=False)
    with PassStore(d / "registry.db") as passes:
        if passes.count() < n:
            fill(passes, n)
        rules = build_rules(cfg, passes, d, reader_roles={"in": "entry", "out": "exit"})
        with rules:
            for h in range(0, 3000, 3):  # some households under observation
                rules.households.set_quarantine(f"{h // 100}-{h % 100}", datetime(2030, 1, 1, tzinfo=timezone.utc))
            rng = random.Random(7)
            wall = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Shanghai
            for i in range(2000):  # some history: people in and out, outings counted
                c = card_of(rng.randrange(n))
                dec = rules.decide(c, rng.choice(("in", "out")), wall, 1.0)
                if dec.granted:
                    rules.granted(c, "out", dec, wall, 1.0)
            lat, writes = [], []
            for i in range(samples):
                c = card_of(rng.randrange(n)) if rng.random() > 0.05 else f"{rng.getrandbits(32):08X}"
                reader = rng.choice(("in", "out", "main"))
                t0 = time.perf_counter()
                dec = rules.decide(c, reader, wall, 10.0 + i)
                lat.append(time.perf_counter() - t0)
                if dec.granted and i % 10 == 0:
                    t0 = time.perf_counter()
                    rules.granted(c, reader, dec, wall, 10.0 + i)
                    writes.append(time.perf_counter() - t0)
    lat.sort()
    writes.sort()
    return percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3, percentile(writes, 0.5) * 1e3 if writes else 0.0


def bench_import(d: Path, rows: int) -> float:
    lines = ["card,name,household,valid_from,valid_until,pass_type"]
    for i in range(rows):
        lines.append(f"{card_of(i)},Resident {i},{i // 3 // 100}-{i // 3 % 100},2026-01-01,2027-01-01T00:00:00Z,{TYPES[i % 10]}")
    text = "\n".join(lines) + "\n"
    with PassStore(d / "import.db") as store:
        t0 = time.perf_counter()
        n = store.upsert_many(parse_pass_csv(text, "bench.csv"))
        elapsed = time.perf_counter() - t0
        assert n == rows and store.count() == rows
    return elapsed


RSS_CHILD = """
import sys
from pathlib import Path
from datetime import datetime, timezone
from gate.config.schema import load_config
from gate.store.passes import PassStore
from gate.runtime.rules_setup import build_rules
from gate.store.journal import Journal
d = Path(sys.argv[1])
cfg = load_config(d / "gate.toml", check_paths=False)
with PassStore(d / "import.db") as passes, Journal(d / "journal.db", "bench") as journal:
    rules = build_rules(cfg, passes, d)
    wall = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    for i in range(0, 20000, 7):
        c = f"{i * 2654435761 % 2**32:08X}"
        rules.decide(c, "main", wall, float(i))
    rules.tick(wall, 1.0)
    rules.close()
    # VmHWM (peak RSS of this image); ru_maxrss would also count the parent's pages at fork.
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    print(int(hwm.split()[1]) / 1024)
"""


def bench_rss(d: Path) -> float:
    (d / "gate.toml").write_text(CONFIG.format(dir=d))
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(d)], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    return float(out.stdout.strip().splitlines()[-1])


def json_rows(a: argparse.Namespace, p50: float, p99: float, w50: float, imp: float, rss: float) -> list[dict]:
    """The headline metrics as bench/run_all.py rows (no side-by-side reference for these)."""
    return [
        {"metric": f"decision p50, {a.passes:,} passes, all rules on", "ours": f"{p50:.3f} ms",
         "reference": None, "target": None, "met": None},
        {"metric": f"decision p99, {a.passes:,} passes, all rules on", "ours": f"{p99:.3f} ms",
         "reference": None, "target": f"<= {TARGET_P99_MS} ms", "met": p99 <= TARGET_P99_MS},
        {"metric": "passage write p50 (granted(), fsync)", "ours": f"{w50:.3f} ms",
         "reference": None, "target": None, "met": None},
        {"metric": f"CSV import, {a.import_rows:,} passes", "ours": f"{imp:.2f} s",
         "reference": None, "target": f"<= {TARGET_IMPORT_S:g} s", "met": imp <= TARGET_IMPORT_S},
        {"metric": f"RSS, daemon-like process, {a.import_rows:,} passes", "ours": f"{rss:.1f} MB",
         "reference": None, "target": f"<= {TARGET_RSS_MB:g} MB", "met": rss <= TARGET_RSS_MB},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=1_000_000)
    ap.add_argument("--import-rows", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--dir", help="keep the databases here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_rules_") as tmp:
        d = Path(a.dir or tmp)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        imp = bench_import(d, a.import_rows)
        rss = bench_rss(d)
        p50, p99, w50 = bench_decisions(d, a.passes, a.samples)
        total = time.perf_counter() - t0
    if a.json:  # a missed target is "met": false, not a failed run
        print(json.dumps(json_rows(a, p50, p99, w50, imp, rss)))
        return 0
    rows = [
        (f"decision p50, {a.passes:,} passes, all rules on", f"{p50:.3f} ms", "", ""),
        (f"decision p99, {a.passes:,} passes, all rules on", f"{p99:.3f} ms", f"<= {TARGET_P99_MS} ms", p99 <= TARGET_P99_MS),
        ("passage write p50 (granted(), fsync)", f"{w50:.3f} ms", "", ""),
        (f"CSV import, {a.import_rows:,} passes", f"{imp:.2f} s", f"<= {TARGET_IMPORT_S:g} s", imp <= TARGET_IMPORT_S),
        (f"RSS, daemon-like process, {a.import_rows:,} passes", f"{rss:.1f} MB", f"<= {TARGET_RSS_MB:g} MB", rss <= TARGET_RSS_MB),
    ]
    print(f"{'measure':<48} {'result':>11} {'target':>11}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<48} {value:>11} {target:>11}  {'' if ok == '' else ('yes' if ok else 'NO')}")
    print(f"(total {total:.0f} s)")
    return 0 if all(ok in ("", True) for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
