"""What happens when a card is presented: pass and community rules, then temperature screening,
then a grant or a refusal."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from gate.core.access import AccessRules, Decision
from gate.core.actions import Action, Grant, Record, Signal
from gate.core.events import CardPresented
from gate.core.screening_flow import PendingTap, ScreeningGate, verdict_actions


class CardFlow:
    """Turns a CardPresented into records, feedback and a Grant for the core to resolve."""

    def __init__(self, rules: AccessRules, screening: ScreeningGate | None = None, *, screen_exits: bool = True,
                 in_lockdown: Callable[[], bool] = lambda: False):
        self.rules = rules
        self.screen_exits = screen_exits
        self.in_lockdown = in_lockdown  # asked again when a screened tap concludes
        self.screening = screening if screening is not None and screening.enabled else None

    def present(self, ev: CardPresented, wall: datetime, *, lockdown: bool) -> list[Action]:
        base = {"card": ev.card, "reader": ev.reader}
        if ev.magic:
            return self._forged(base, "card answers the Gen1a backdoor (magic/clone card)")
        decision = self.rules.decide(ev.card, ev.reader, wall, ev.at, direction=ev.direction)
        fields = {**base, **decision.fields}
        if decision.granted and ev.credential_ok is False:
            return self._forged(fields, "credential block missing or MAC mismatch")
        if decision.granted and lockdown:
            return [Record("access_refused", {**fields, "reason": "lockdown"}), Signal("refused")]
        if not decision.granted:
            return [*decision.records, Record("access_refused", {**fields, "reason": decision.reason}), Signal("refused")]
        if self.screening is None or (fields.get("direction") == "exit" and not self.screen_exits):
            return [*decision.records, Record("access_granted", fields), *self._granted(ev.card, ev.reader, decision, wall, ev.at)]
        tap = PendingTap(ev.card, ev.reader, decision, fields, ev.at)
        superseded, verdict, done = self.screening.start(tap)
        return [*decision.records, *superseded, *self._conclude(verdict, done, wall, ev.at)]

    def _forged(self, fields: dict, detail: str) -> list[Action]:
        return [
            Record("forged_credential", {**fields, "detail": detail}),
            Record("access_refused", {**fields, "reason": "forged_credential"}),
            Signal("refused"),
        ]

    def _granted(self, card: str, reader: str, decision: Decision, wall: datetime, mono: float) -> list[Action]:
        after = self.rules.granted(card, reader, decision, wall, mono)
        return [*after, Grant("card"), Signal("granted")]

    def _conclude(self, verdict, tap: PendingTap | None, wall: datetime, mono: float) -> list[Action]:
        if verdict is None:
            return []
        if tap is None:  # not final: ask the resident to look at the sensor again
            return [Signal("retest")]
        if verdict.outcome == "pass" and self.in_lockdown():
            # Lockdown began while this resident was being measured.
            return [Record("access_refused", {**tap.fields, "reason": "lockdown"}), Signal("refused")]
        actions, granted = verdict_actions(verdict, tap)
        if granted:
            actions += self._granted(tap.card, tap.reader, tap.decision, wall, mono)
        return actions

    def temperature(self, object_c: float, ambient_c: float, wall: datetime, at: float) -> list[Action]:
        if self.screening is None:
            return []
        self.screening.add_sample(object_c, ambient_c, at)
        return self._conclude(*self.screening.evaluate(at), wall, at)

    def thermometer_fault(self, detail: str, wall: datetime, at: float) -> list[Action]:
        if self.screening is None:
            return []
        self.screening.add_fault(detail, at)
        return self._conclude(*self.screening.evaluate(at), wall, at)

    def tick(self, wall: datetime, mono: float) -> list[Action]:
        actions: list[Action] = list(self.rules.tick(wall, mono))
        if self.screening is not None and self.screening.pending is not None:
            deadline = self.screening.next_deadline()
            if deadline is not None and mono >= deadline:
                actions += self._conclude(*self.screening.evaluate(mono), wall, mono)
        return actions

    def next_deadline(self) -> float | None:
        deadlines = [self.rules.next_deadline(), self.screening.next_deadline() if self.screening else None]
        deadlines = [d for d in deadlines if d is not None]
        return min(deadlines) if deadlines else None
