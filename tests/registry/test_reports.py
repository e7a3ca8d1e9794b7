"""`gatectl station report` and the reports module over a store filled with the gate's own record
shapes (gate/core/card_flow.py, gate/rules/policy.py): unknown-card refusals, home observation
exits (`quarantine_exit` and its `quarantine` refusal), granted exits; the local day of
Asia/Shanghai; on SQLite (a real `gatectl` subprocess) and on PostgreSQL (a real cluster)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from pgserver import pg_server, pg_url  # noqa: F401  (the PostgreSQL test's fixtures)

from gate.station.cli import add_station_parser, run_station
from gate.station.report_format import report_csv
from gate.station.reports import compound_report, store_fetch
from gate.station.store import open_station_store

UNTIL = "2026-12-10T16:00:00.000Z"
HOSTILE_NAME = '王<b>丽</b>\x1b[2J'


def refused(card: str, reason: str, **extra) -> dict:
    return {"type": "access_refused", "card": card, "reader": "main", "reason": reason, **extra}


def resident(card: str, name: str, household: str | None, direction: str) -> dict:
    return {"card": card, "reader": "main", "direction": direction, "name": name, "household": household,
            "pass_type": "resident"}


def quarantined(card: str, name: str, household: str) -> list[dict]:
    fields = {**resident(card, name, household, "exit"), "quarantine_until": UNTIL}
    return [{"type": "quarantine_exit", "kind": "alarm", **fields},
            {"type": "access_refused", **fields, "reason": "quarantine"}]


# (gate, ts, record fields, verified); the local day 2026-12-02 in Shanghai is [12-01T16:00Z, 12-02T16:00Z).
DAY = [
    ("north", "2026-12-01T15:59:59.999Z", refused("AABBCCDD", "unknown_card"), True),   # 23:59:59.999 on 1 Dec
    ("north", "2026-12-01T16:00:00.000Z", refused("AABBCCDD", "unknown_card"), True),   # 00:00 on 2 Dec
    ("south", "2026-12-02T03:00:00.000Z", refused("AABBCCDD", "unknown_card"), True),
    ("south", "2026-12-02T03:00:05.000Z", {"type": "unknown_card_repeated", "kind": "alarm", "card": "AABBCCDD",
                                           "reader": "main", "attempts": 3}, True),
    ("north", "2026-12-02T15:59:59.999Z", refused("AABBCCDD", "unknown_card"), True),   # 23:59:59.999 on 2 Dec
    ("north", "2026-12-02T16:00:00.000Z", refused("AABBCCDD", "unknown_card"), True),   # 3 Dec
    ("north", "2026-12-02T04:00:00.000Z", refused("11223344", "unknown_card"), True),   # once: not "repeatedly"
    ("east", "2026-12-02T04:00:00.000Z", refused("55667788", "unknown_card"), True),    # another compound
    ("east", "2026-12-02T04:01:00.000Z", refused("55667788", "unknown_card"), True),
    ("north", "2026-12-02T05:00:00.000Z", refused("99887766", "unknown_card"), False),  # no valid MAC
    ("north", "2026-12-02T05:01:00.000Z", refused("99887766", "unknown_card"), False),
    ("north", "2026-12-02T02:00:00.000Z", quarantined("0A0B0C0D", HOSTILE_NAME, "3-201"), True),
    ("south", "2026-12-02T05:00:00.000Z", quarantined("0A0B0C0D", HOSTILE_NAME, "3-201"), True),
    # The alarm of this refusal never reached the station: the refusal alone still lists the resident.
    ("south", "2026-12-02T06:00:00.000Z", [quarantined("01020304", "Zhao Min", "3-202")[1]], True),
    ("north", "2026-12-02T01:00:00.000Z", {"type": "access_granted", **resident("10000001", "Li", "5-101", "exit")}, True),
    ("south", "2026-12-02T09:00:00.000Z", {"type": "access_granted", **resident("10000002", "Li Jr", "5-101", "exit")}, True),
    ("south", "2026-12-02T10:00:00.000Z", {"type": "access_granted", **resident("10000002", "Li Jr", "5-101", "entry")}, True),
    ("north", "2026-12-01T15:00:00.000Z", {"type": "access_granted", **resident("10000001", "Li", "5-101", "exit")}, True),
    ("north", "2026-12-02T07:00:00.000Z", {"type": "access_granted", **resident("30000001", "Sun", "=1+1", "exit")}, True),
    ("north", "2026-12-02T08:00:00.000Z", {"type": "access_granted", **resident("20000001", "Visitor", None, "exit")}, True),
    ("south", "2026-12-02T11:00:00.000Z", {"type": "access_granted", **resident("20000001", "Visitor", None, "exit")}, True),
    ("south", "2026-12-02T12:00:00.000Z", {"type": "access_granted", **resident("20000009", "Other", None, "exit")}, True),
]


def fill(store) -> None:
    seqs: dict[str, int] = {}
    items = []
    for gate, ts, fields, verified in DAY:
        for f in fields if isinstance(fields, list) else [fields]:
            seqs[gate] = seqs.get(gate, 0) + 1
            f = dict(f)
            kind = f.pop("kind", "event")
            items.append((gate, kind, {"gate": gate, "seq": seqs[gate], "id": f"{gate}-{seqs[gate]}", "ts": ts,
                                       "historical": False, **f}, verified))
    store.add_records(items)


def station_toml(tmp: Path, store: str) -> Path:
    secret = tmp / "g.secret"
    secret.write_text("report-secret-0123456789abcdef012345\n")
    gates = "".join(f'[gates."{g}"]\nsecret_file = "{secret}"\ncompound = "{c}"\n'
                    for g, c in (("north", "gucun-47"), ("south", "gucun-47"), ("east", "c2")))
    toml = tmp / "station.toml"
    toml.write_text(f'[station]\nstore = "{store}"\ntimezone = "Asia/Shanghai"\n{gates}')
    return toml


def check_report(data: dict) -> None:
    assert data["compound"] == "gucun-47" and data["date"] == "2026-12-02" and data["timezone"] == "Asia/Shanghai"
    assert data["unverified_records_left_out"] == 2
    (unknown,) = data["unknown_cards"]  # 11223344 tried once, 55667788 at c2, 99887766 unsigned
    assert unknown == {"card": "AABBCCDD", "attempts": 3, "gates": ["north", "south"],
                       "first": "2026-12-01T16:00:00.000Z", "last": "2026-12-02T15:59:59.999Z",
                       "first_local": "2026-12-02T00:00:00+08:00", "last_local": "2026-12-02T23:59:59+08:00",
                       "alarmed": True}
    q = {row["card"]: row for row in data["quarantine_exits"]}
    assert set(q) == {"0A0B0C0D", "01020304"}
    assert q["0A0B0C0D"]["attempts"] == 2 and q["0A0B0C0D"]["gates"] == ["north", "south"]
    assert q["0A0B0C0D"]["name"] == HOSTILE_NAME and q["0A0B0C0D"]["quarantine_until"] == UNTIL
    assert q["01020304"]["attempts"] == 1 and q["01020304"]["household"] == "3-202"
    outings = [(r["household"], r["outings"], r["cards"], r["gates"]) for r in data["outings"]]
    assert outings == [("", 2, ["20000001"], ["north", "south"]), ("", 1, ["20000009"], ["south"]),
                       ("5-101", 2, ["10000001", "10000002"], ["north", "south"]), ("=1+1", 1, ["30000001"], ["north"])]


def test_report_cli_json_and_excel_csv_on_sqlite(tmp_path):
    with open_station_store(str(tmp_path / "station.db")) as store:
        fill(store)
    toml = station_toml(tmp_path, str(tmp_path / "station.db"))
    run = [sys.executable, "-m", "gate.cli", "station", "-c", str(toml), "report", "--compound", "gucun-47",
           "--date", "2026-12-02"]
    out = subprocess.run([*run, "--format", "json"], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    check_report(json.loads(out.stdout))

    target = tmp_path / "report.csv"
    out = subprocess.run([*run, "--format", "csv", "--output", str(target)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # Excel: UTF-8 with BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["小区", "gucun-47", "日期", "2026-12-02", "时区", "Asia/Shanghai"]
    assert ["重复尝试的未登记卡"] in rows and ["卡号", "尝试次数", "门禁", "首次尝试", "最后尝试", "门禁已报警"] in rows
    assert ["AABBCCDD", "3", "north south", "2026-12-02T00:00:00+08:00", "2026-12-02T23:59:59+08:00", "1"] in rows
    assert any(r[:3] == [HOSTILE_NAME, "3-201", "0A0B0C0D"] for r in rows)
    assert any(r[:2] == ["'=1+1", "1"] for r in rows)  # no formula in Excel



def station_args(toml: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_station_parser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["station", "-c", str(toml), "report", *extra])


def test_report_text_is_printable_and_bad_arguments_are_named(tmp_path, capsysbinary):
    with open_station_store(str(tmp_path / "station.db")) as store:
        fill(store)
    toml = station_toml(tmp_path, str(tmp_path / "station.db"))
    assert run_station(station_args(toml, "--compound", "gucun-47", "--date", "2026-12-02", "--language", "en")) == 0
    text = capsysbinary.readouterr().out.decode()
    assert "\x1b" not in text and "\\x1b" in text and "AABBCCDD" in text  # a gate's escape code shown as data
    assert "2 records without a valid gate signature were left out" in text
    assert run_station(station_args(toml, "--compound", "gucun-47", "--date", "2026-13-01")) == 2
    assert "--date" in capsysbinary.readouterr().err.decode()
    assert run_station(station_args(toml, "--compound", "gucun-48", "--date", "2026-12-02")) == 2
    err = capsysbinary.readouterr().err.decode()
    assert "gucun-48" in err and "gucun-47" in err


def test_report_on_postgresql_matches(pg_url, tmp_path, capsysbinary):
    with open_station_store(pg_url) as store:
        fill(store)
        report = compound_report(store_fetch(store), ["north", "south"], compound="gucun-47",
                                 day=date(2026, 12, 2), tz_name="Asia/Shanghai")
    check_report(report.to_json())
    assert report_csv(report, "en").startswith("\ufeffCompound,gucun-47".encode())
    toml = station_toml(tmp_path, pg_url)
    assert run_station(station_args(toml, "--compound", "gucun-47", "--date", "2026-12-02", "--format", "json")) == 0
    check_report(json.loads(capsysbinary.readouterr().out))
