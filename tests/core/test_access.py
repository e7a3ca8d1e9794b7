"""The pass check alone (decide_pass, PassRules) and the card flow around any AccessRules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gate.core.access import Decision, PassRules, decide_pass
from gate.core.actions import Grant, Record
from gate.core.card_flow import CardFlow
from gate.core.events import CardPresented
from gate.core.passes import make_pass

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


class Passes(dict):
    def get(self, card):
        return super().get(card)


def test_decide_pass_edges():
    p = make_pass("DEADBEEF", "Li", None, NOW, NOW + timedelta(hours=1))
    assert decide_pass(None, NOW).reason == "unknown_card"
    assert decide_pass(p, NOW - timedelta(milliseconds=1)).reason == "not_yet_valid"
    assert decide_pass(p, NOW).granted
    assert decide_pass(p, NOW + timedelta(hours=1) - timedelta(milliseconds=1)).granted
    assert decide_pass(p, NOW + timedelta(hours=1)).reason == "expired"


def test_pass_rules_fields_and_revoked():
    from dataclasses import replace

    p = make_pass("DEADBEEF", "Li", "3-501")
    rules = PassRules(Passes({"DEADBEEF": p, "01020304": replace(make_pass("01020304", "X"), revoked_at=NOW)}))
    d = rules.decide("DEADBEEF", "main", NOW, 0.0, direction="exit")
    assert d == Decision(True, None, {"name": "Li", "household": "3-501"})
    assert rules.decide("01020304", "main", NOW, 0.0).reason == "revoked"
    assert rules.decide("AABBCCDD", "main", NOW, 0.0).reason == "unknown_card"
    assert rules.granted("DEADBEEF", "main", d, NOW, 0.0) == [] and rules.tick(NOW, 0.0) == []
    assert rules.next_deadline() is None


def test_card_flow_refusal_carries_uid_and_lockdown_wins():
    flow = CardFlow(PassRules(Passes({"DEADBEEF": make_pass("DEADBEEF", "Li")})))
    refused = flow.present(CardPresented("AABBCCDD", 1.0), NOW, lockdown=False)
    rec = [a for a in refused if isinstance(a, Record)]
    assert rec[0].type == "access_refused" and rec[0].fields["card"] == "AABBCCDD"
    locked = flow.present(CardPresented("DEADBEEF", 1.0), NOW, lockdown=True)
    assert [a.fields.get("reason") for a in locked if isinstance(a, Record)] == ["lockdown"]
    assert not any(isinstance(a, Grant) for a in locked)
