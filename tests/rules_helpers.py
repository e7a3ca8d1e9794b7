"""In-memory fakes and a small harness for the community-rules tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from gate.core.actions import Grant, Record
from gate.core.card_flow import CardFlow
from gate.core.events import CardPresented
from gate.core.passes import make_pass
from gate.rules import CommunityRules, MemoryRuleState, RulesSettings

SH = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-30 10:00 in Shanghai.
START = datetime(2026, 11, 30, 10, 0, tzinfo=SH).astimezone(timezone.utc)


class FakePasses:
    def __init__(self, *passes):
        self.by_card = {p.card: p for p in passes}

    def get(self, card):
        return self.by_card.get(card)


class FakeHouseholds:
    def __init__(self, **until):
        self.until = dict(until)

    def quarantine_until(self, household):
        return self.until.get(household)


LI = make_pass("A0000001", "Li Wei", "3-501")
LI_WIFE = make_pass("A0000002", "Zhang Min", "3-501")
WORKER = make_pass("B0000001", "Chen the plumber", None, pass_type="worker")
VISITOR = make_pass("C0000001", "Aunt Wang", "3-501", pass_type="visitor")


class Gate:
    """CardFlow + CommunityRules on a test clock (wall and monotonic move together)."""

    def __init__(self, settings=None, *, passes=None, households=None, state=None, wall=START, mono=1000.0, **kw):
        self.settings = settings or RulesSettings(tz=SH, **kw)
        self.passes = passes or FakePasses(LI, LI_WIFE, WORKER, VISITOR)
        self.households = households or FakeHouseholds()
        self.state = state if state is not None else MemoryRuleState()
        self.rules = CommunityRules(self.settings, self.passes, self.households, self.state)
        self.flow = CardFlow(self.rules)
        self.wall, self.mono = wall, mono

    def advance(self, seconds=0.0, **delta):
        d = timedelta(seconds=seconds, **delta)
        self.wall += d
        self.mono += d.total_seconds()

    def tap(self, card, reader="main", *, lockdown=False):
        actions = self.flow.present(CardPresented(card, self.mono, reader), self.wall, lockdown=lockdown)
        return [a for a in actions if isinstance(a, Record)], any(isinstance(a, Grant) for a in actions)

    def tick(self):
        return self.rules.tick(self.wall, self.mono)


def outcome(records):
    """('access_granted', None) or ('access_refused', reason) of a tap's records."""
    main = [r for r in records if r.type in ("access_granted", "access_refused")]
    assert len(main) == 1, records
    return main[0].type, main[0].fields.get("reason")


def types(records):
    return [r.type for r in records]


def quarantined(p, until):
    return replace(p, quarantine_until=until)
