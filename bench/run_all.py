"""Run every benchmark and print one table: metric, ours, the side-by-side reference, target, met?

    python bench/run_all.py [--only rfid,uplink] [--timeout 300] [--markdown | --json]

Each `bench/bench_*.py` runs in its own subprocess (one after the other: they measure time, so they
must not compete for the CPU) with `--json`, and prints on stdout a JSON list of rows
`{"metric", "ours", "reference", "target", "met"}` (see bench/README.md). A script that fails, times
out or prints no such list gets a row saying so, and the exit status is 1; so is a row with
`"met": false`. Exit 0 when every benchmark ran and met its targets.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
FIELDS = ("metric", "ours", "reference", "target", "met")
HEADERS = ("bench", "metric", "ours", "reference", "target", "met?")


def discover(only: list[str] | None = None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    return scripts


def parse_rows(stdout: str) -> list[dict] | None:
    """The JSON list: the whole stdout, or else its last non-empty line (progress may come first)."""
    candidates = [stdout.strip()] + [line for line in reversed(stdout.splitlines()) if line.strip()][:1]
    for text in candidates:
        try:
            rows = json.loads(text)
        except ValueError:
            continue
        if isinstance(rows, list) and all(isinstance(r, dict) and "metric" in r for r in rows):
            return rows
    return None


def _failure(bench: str, why: str, stderr: str = "") -> list[dict]:
    tail = " | ".join(line for line in stderr.strip().splitlines()[-2:])
    return [{"bench": bench, "metric": f"(did not run: {why})", "ours": tail[:160], "reference": "",
             "target": "", "met": False}]


def run_bench(script: Path, timeout: float) -> tuple[list[dict], float]:
    """Rows of one benchmark (each with its "bench" name) and the wall time it took."""
    bench = script.stem.removeprefix("bench_")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(script), "--json"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return _failure(bench, f"timed out after {timeout:g} s"), time.monotonic() - t0
    took = time.monotonic() - t0
    if proc.returncode == 2 and "unrecognized arguments: --json" in proc.stderr:
        return _failure(bench, "no --json option yet (see bench/README.md)"), took
    if proc.returncode != 0:
        return _failure(bench, f"exit {proc.returncode}", proc.stderr), took
    rows = parse_rows(proc.stdout)
    if rows is None:
        return _failure(bench, "no --json list on stdout (see bench/README.md)", proc.stderr), took
    return [{"bench": bench, **{k: r.get(k, "") for k in FIELDS}} for r in rows], took


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(rows: list[dict], *, markdown: bool = False) -> str:
    cells = [HEADERS] + [tuple(_cell(r.get(k)) for k in ("bench", *FIELDS)) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("---" for _ in HEADERS) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated bench names, e.g. rfid,uplink")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per benchmark (default 300)")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    out.add_argument("--json", action="store_true", help="one JSON list of every row")
    args = ap.parse_args(argv)
    scripts = discover(args.only.split(",") if args.only else None)
    if not scripts:
        print("run_all: no benchmark matched", file=sys.stderr)
        return 1
    rows: list[dict] = []
    for script in scripts:
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        got, took = run_bench(script, args.timeout)
        print(f"  {script.name}: {len(got)} row(s) in {took:.1f} s", file=sys.stderr, flush=True)
        rows += got
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print(table(rows, markdown=args.markdown))
    return 1 if any(r.get("met") is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
