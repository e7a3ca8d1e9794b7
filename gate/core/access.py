"""Access rules for a presented card: pure, from the pass record and the wall time.

`AccessRules` is the port the card flow uses; `PassRules` checks the pass itself (unknown, revoked,
expired, not yet valid). `gate.rules.CommunityRules` adds households, direction, quarantine, quotas,
anti-passback, overdue returns, schedules and unknown-card follow-up (docs/rules.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gate.core.actions import Record
from gate.core.passes import Pass


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: str | None = None  # refusal reason (interface §4) when not granted
    fields: dict[str, Any] = field(default_factory=dict)  # who: name, household, pass_type, direction...
    records: tuple[Record, ...] = ()  # extra records (alarms) the rules raise with this decision


GRANT = Decision(True)


def decide_pass(card_pass: Pass | None, now: datetime) -> Decision:
    """Is this pass valid right now?"""
    if card_pass is None:
        return Decision(False, "unknown_card")
    if card_pass.revoked:
        return Decision(False, "revoked")
    if card_pass.valid_from is not None and now < card_pass.valid_from:
        return Decision(False, "not_yet_valid")
    if card_pass.valid_until is not None and now >= card_pass.valid_until:
        return Decision(False, "expired")
    return GRANT


class PassLookup(Protocol):
    def get(self, card: str) -> Pass | None: ...


class AccessRules(Protocol):
    """What the card flow asks of the rules."""

    def decide(self, card: str, reader: str, wall: datetime, mono: float, direction: str | None = None) -> Decision:
        """`direction` ("entry"/"exit") is what a two-way reader or the keypad said, if anything."""
        ...

    def granted(self, card: str, reader: str, decision: Decision, wall: datetime, mono: float) -> list[Record]:
        """The gate really let this card through (after screening): update counters, return records."""
        ...

    def tick(self, wall: datetime, mono: float) -> list[Record]:
        """Time-driven rules (e.g. overdue returns)."""
        ...

    def next_deadline(self) -> float | None: ...


class PassRules:
    """The pass check alone: valid, known, not revoked."""

    def __init__(self, passes: PassLookup):
        self.passes = passes

    def decide(self, card: str, reader: str, wall: datetime, mono: float, direction: str | None = None) -> Decision:
        card_pass = self.passes.get(card)
        decision = decide_pass(card_pass, wall)
        if card_pass is None:
            return decision
        who = {"name": card_pass.name, "household": card_pass.household}
        return Decision(decision.granted, decision.reason, who)

    def granted(self, card: str, reader: str, decision: Decision, wall: datetime, mono: float) -> list[Record]:
        return []

    def tick(self, wall: datetime, mono: float) -> list[Record]:
        return []

    def next_deadline(self) -> float | None:
        return None
