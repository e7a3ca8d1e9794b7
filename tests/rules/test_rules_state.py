"""The rule state contract on both backends, and what must survive a restart (SQLite reopened)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gate.rules import MemoryRuleState
from gate.store.rule_state import SqliteRuleState
from gate.runtime.rules_setup import build_rules
from gate.config.schema import parse_config
from rules_helpers import LI, LI_WIFE, START, Gate, outcome, types


@pytest.fixture(params=["memory", "sqlite"])
def state(request, tmp_path):
    s = MemoryRuleState() if request.param == "memory" else SqliteRuleState(tmp_path / "rules.db")
    yield s
    s.close()


def test_presence_and_outings_contract(state):
    assert state.presence("A") is None
    state.record_passage("A", "out", START, outing_of="h1")
    state.record_passage("B", "out", START + timedelta(seconds=1), outing_of="h1")
    state.record_passage("C", "in", START, outing_of=None)
    p = state.presence("A")
    assert (p.state, p.at, p.outing, p.overdue_raised) == ("out", START, True, False)
    assert state.outings_since("h1", START) == 2
    assert state.outings_since("h1", START + timedelta(milliseconds=1)) == 1
    assert state.outings_since("h2", START) == 0
    assert sorted(c for c, _ in state.open_outings()) == ["A", "B"]
    assert state.mark_overdue("A", START) is True
    assert state.mark_overdue("A", START + timedelta(seconds=5)) is False  # not that outing
    assert [c for c, _ in state.open_outings()] == ["B"]
    state.record_passage("B", "in", START + timedelta(minutes=1), outing_of=None)
    assert state.open_outings() == [] and state.mark_overdue("B", START) is False
    assert state.prune_outings(START + timedelta(milliseconds=500)) == 1
    assert state.outings_since("h1", START) == 1


def test_anti_passback_and_quota_survive_a_restart(tmp_path):
    kw = dict(anti_passback="hard", exit_quota=1, reader_roles={"in": "entry", "out": "exit"})
    with SqliteRuleState(tmp_path / "rules.db") as st:
        g = Gate(state=st, **kw)
        assert g.tap(LI.card, "out")[1]
    with SqliteRuleState(tmp_path / "rules.db") as st:  # the daemon restarted
        g = Gate(state=st, **kw)
        g.advance(60)
        assert outcome(g.tap(LI.card, "out")[0]) == ("access_refused", "anti_passback")
        assert outcome(g.tap(LI_WIFE.card, "out")[0]) == ("access_refused", "quota_exceeded")
        assert g.tap(LI.card, "in")[1]


def test_overdue_timer_is_rearmed_after_a_restart_from_the_wall_time(tmp_path):
    kw = dict(outing_limit_seconds=1800, reader_roles={"out": "exit"})
    with SqliteRuleState(tmp_path / "rules.db") as st:
        g = Gate(state=st, **kw)
        g.tap(LI.card, "out")
    with SqliteRuleState(tmp_path / "rules.db") as st:
        # 10 minutes later, on a fresh monotonic clock: 20 minutes remain.
        g = Gate(state=st, wall=START + timedelta(minutes=10), mono=5.0, **kw)
        assert g.tick() == [] and g.rules.next_deadline() == pytest.approx(5.0 + 1200)
        g.advance(1200)
        assert types(g.tick()) == ["overdue"]
    with SqliteRuleState(tmp_path / "rules.db") as st:  # raised once, not again after another restart
        g = Gate(state=st, wall=START + timedelta(hours=2), mono=1.0, **kw)
        assert g.tick() == [] and g.rules.next_deadline() is None


def test_build_rules_opens_and_closes_its_stores(tmp_path):
    from gate.store.passes import PassStore

    cfg = parse_config({"gate": {"timezone": "Asia/Shanghai"}, "hardware": {"rfid": {"role": "exit"}},
                        "rules": {"exit_quota": 1}}, tmp_path, check_paths=False)
    with PassStore(tmp_path / "registry.db") as passes:
        passes.add(LI)
        rules = build_rules(cfg, passes, tmp_path)
        d = rules.decide(LI.card, "main", START, 1.0)
        assert d.granted and d.fields["direction"] == "exit"
        rules.granted(LI.card, "main", d, START, 1.0)
        assert rules.decide(LI.card, "main", START, 2.0).reason == "quota_exceeded"
        rules.close()
        rules.close()
    assert (tmp_path / "rules.db").exists()
