"""The board's view model (gate/station/board.py) and its store queries, shared by the web page and
`watch`: order, late alarms, escalation, local time, gate names, no hidden cap."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.clock import FakeClock
from gate.core.timefmt import format_ts
from gate.station.board import PRIORITY, local_time, priority
from gate.station.console_store import ConsoleStore
from gate.station.store import StationStore

T0 = datetime(2026, 12, 2, 3, 0, 0, tzinfo=timezone.utc)


def rec(gate: str, seq: int, type_: str, at: datetime, **extra) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}", "ts": format_ts(at), "type": type_,
            "historical": False, **extra}


@pytest.fixture
def clock():
    return FakeClock(wall=T0)


def stores(tmp_path, clock, **kw):
    return (StationStore(tmp_path / "s.db", clock=clock),
            ConsoleStore(tmp_path / "s.db", clock=clock, gate_names={"n": "North gate"}, **kw))


def test_priority_order_is_the_issues():
    assert PRIORITY[:9] == ("forced_open", "duress", "fire_release", "tamper", "quarantine_exit", "fever",
                            "held_open", "keypad_lockout", "device_fault")
    assert priority("something_new") == len(PRIORITY)


def test_local_time_shows_the_date_only_when_not_today():
    now = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)  # 11:00 in Shanghai
    assert local_time("2026-12-02T03:13:39.693Z", "Asia/Shanghai", now=now) == "11:13:39"
    assert local_time("2026-12-01T03:13:39.693Z", "Asia/Shanghai", now=now) == "2026-12-01 11:13:39"
    assert local_time("2026-12-01T17:00:00.000Z", "Asia/Shanghai", now=now) == "01:00:00"  # today there


def test_board_order_late_alarm_is_new_with_its_delay_and_closed_ones_last(tmp_path, clock):
    store, console = stores(tmp_path, clock)
    now = clock.wall()
    store.add_records([
        ("n", "alarm", rec("n", 1, "held_open", now - timedelta(seconds=50))),
        ("n", "alarm", rec("n", 2, "forced_open", now - timedelta(seconds=40))),
        ("n", "event", rec("n", 3, "alarm_acknowledged", now, alarm="forced_open", alarm_seq=2, by="station",
                          officer="wang")),
        # Delivered late from the gate's backlog: historical, never acknowledged, so still NEW.
        ("n", "alarm", rec("n", 4, "fever", now - timedelta(seconds=95), temperature_c=38.4) | {"historical": True}),
        ("n", "alarm", rec("n", 5, "duress", now - timedelta(seconds=2), guard="g7")),
    ])
    rows, counts = console.board()
    assert [(r.seq, r.state) for r in rows] == [(5, "new"), (4, "new"), (1, "new"), (2, "closed")]
    assert counts == {"total": 4, "open": 3, "new": 3, "escalated": 0}
    late = rows[1]
    assert late.historical and late.delayed_s == 95 and late.gate_name == "North gate"
    assert rows[0].delayed_s == 0
    assert rows[3].closed_by == "wang"
    page, _ = console.board(limit=2, offset=2)
    assert [r.seq for r in page] == [1, 2]


def test_claimed_but_not_acknowledged_escalates_after_the_deadline(tmp_path, clock):
    store, console = stores(tmp_path, clock, escalate_after_seconds=300)
    store.add_records([("n", "alarm", rec("n", 1, "forced_open", clock.wall()))])
    assert console.claim("n", 1, "wang") == "wang"
    assert console.claim("n", 1, "li") == "wang"  # one claim
    clock.advance(299)
    assert console.board()[1]["escalated"] == 0
    clock.advance(2)
    rows, counts = console.board()
    assert counts["escalated"] == 1 and rows[0].escalated and rows[0].state == "claimed"
    console.record_ack("n", 1, "wang", "patrol dispatched", "c1")
    assert console.board()[1]["escalated"] == 0


def test_watch_uses_the_same_board_with_gate_names_and_says_what_is_not_shown(tmp_path, clock):
    from rich.console import Console

    from gate.station.config import GateInfo, StationConfig
    from gate.station.view import StationView

    store, _ = stores(tmp_path, clock)
    store.add_records([("n", "alarm", rec("n", s, "held_open", clock.wall())) for s in range(1, 20)]
                      + [("n", "alarm", rec("n", 20, "forced_open", clock.wall()))])
    cfg = StationConfig(gate_info={"n": GateInfo(name="North gate")}, timezone="Asia/Shanghai")
    out = Console(record=True, width=200)
    out.print(StationView(store, cfg=cfg).render())
    text = out.export_text()
    assert "North gate" in text
    assert text.index("FORCED_OPEN") < text.index("HELD_OPEN")
    assert "20 open, 5 more not shown" in text


def test_every_label_and_page_text_has_a_chinese_translation():
    import re
    from pathlib import Path

    from gate.core.records import ALARM_TYPES as CORE_ALARMS
    from gate.core.records import REFUSAL_REASONS, SECURITY_TYPES
    from gate.station.web.i18n import LABELS, catalogue

    zh = catalogue("zh-CN")
    templates = Path(__file__).resolve().parents[2] / "gate/station/web/templates"
    page_texts = {m for t in templates.glob("*.html") for m in re.findall(r"""_\(["']([^"']+)["']\)""", t.read_text())}
    missing = sorted(t for t in set(LABELS.values()) | page_texts if zh(t) == t)
    assert not missing, missing
    # Every alarm type, security record and refusal reason the gate knows has a human label.
    assert not set(CORE_ALARMS) - set(LABELS)
    assert not (set(SECURITY_TYPES) | set(REFUSAL_REASONS)) - set(LABELS)
    assert not set(CORE_ALARMS) - set(PRIORITY)  # and a place in the board's order
    assert catalogue("en")("Forced opening") == "Forced opening" and catalogue("xx").lang == "en"


def test_unverified_records_neither_sound_nor_close_an_alarm(tmp_path, clock):
    store, console = stores(tmp_path, clock)
    now = clock.wall()
    store.add_records([
        ("n", "alarm", rec("n", 1, "forced_open", now), True),
        # A forged acknowledgement (no valid MAC) must not close the real alarm...
        ("n", "event", rec("n", 2, "alarm_acknowledged", now, alarm_seq=1, officer="mallory"), False),
        # ...and a forged alarm is shown, marked, but does not count as NEW (no sound).
        ("n", "alarm", rec("n", 3, "duress", now), False),
    ])
    rows, counts = console.board()
    by_seq = {r.seq: r for r in rows}
    assert by_seq[1].state == "new" and by_seq[1].verified and by_seq[1].closed_at is None
    assert by_seq[3].verified is False and by_seq[3].to_json("UTC")["verified"] is False
    assert counts["new"] == 1 and counts["open"] == 2
