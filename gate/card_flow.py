"""What happens when a card is presented: rules, then (later) screening, then a grant or a refusal."""
from __future__ import annotations

from datetime import datetime

from .access import AccessRules
from .actions import Action, Grant, Record, Signal
from .events import CardPresented


class CardFlow:
    """Turns a CardPresented into records, feedback and a Grant for the core to resolve."""

    def __init__(self, rules: AccessRules):
        self.rules = rules

    def present(self, ev: CardPresented, wall: datetime, *, lockdown: bool) -> list[Action]:
        base = {"card": ev.card, "reader": ev.reader}
        if ev.magic:
            return [
                Record("forged_credential", {**base, "detail": "card answers the Gen1a backdoor (magic/clone card)"}),
                Record("access_refused", {**base, "reason": "forged_credential"}),
                Signal("refused"),
            ]
        decision = self.rules.decide(ev.card, ev.reader, wall, ev.at)
        fields = {**base, **decision.fields}
        if decision.granted and ev.credential_ok is False:
            return [
                Record("forged_credential", {**fields, "detail": "credential block missing or MAC mismatch"}),
                Record("access_refused", {**fields, "reason": "forged_credential"}),
                Signal("refused"),
            ]
        if decision.granted and lockdown:
            return [Record("access_refused", {**fields, "reason": "lockdown"}), Signal("refused")]
        if not decision.granted:
            return [*decision.records, Record("access_refused", {**fields, "reason": decision.reason}), Signal("refused")]
        after = self.rules.granted(ev.card, ev.reader, decision, wall, ev.at)
        return [*decision.records, Record("access_granted", fields), *after, Grant("card"), Signal("granted")]

    def tick(self, wall: datetime, mono: float) -> list[Action]:
        return list(self.rules.tick(wall, mono))

    def next_deadline(self) -> float | None:
        return self.rules.next_deadline()
