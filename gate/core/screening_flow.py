"""Screening at the gate: a card the rules accepted waits here for a temperature verdict.

One tap is screened at a time: the resident in front of the sensor. A second card tapped while one
is pending supersedes it (the first is refused as screening_unavailable, 'superseded').
"""
from __future__ import annotations

from dataclasses import dataclass

from gate.core.access import Decision
from gate.core.actions import Action, Record, Signal
from gate.core.screening import Screening
from gate.core.screening_policy import ScreeningPolicy, Verdict


@dataclass
class PendingTap:
    card: str
    reader: str
    decision: Decision
    fields: dict
    tap_at: float
    retest_signalled: bool = False


class ScreeningGate:
    """Holds the screening core and the policy; turns verdicts into records and feedback."""

    def __init__(self, screening: Screening, policy: ScreeningPolicy):
        self.screening = screening
        self.policy = policy
        self.pending: PendingTap | None = None

    @property
    def enabled(self) -> bool:
        return self.policy.mode != "off"

    def next_deadline(self) -> float | None:
        return self.screening.deadline(self.pending.tap_at) if self.pending else None

    def add_sample(self, object_c: float, ambient_c: float, at: float) -> None:
        self.screening.add_sample(object_c, ambient_c, at)

    def add_fault(self, detail: str, at: float) -> None:
        self.screening.add_fault(detail, at)

    def start(self, tap: PendingTap) -> tuple[list[Action], Verdict | None, PendingTap | None]:
        """Begin screening a tap. Returns (actions for a superseded tap, verdict if already final, tap)."""
        actions: list[Action] = []
        if self.pending is not None and self.pending.card == tap.card:
            return [], None, None  # the same resident tapping again while being measured
        if self.pending is not None:
            old = self.pending
            actions.append(Record("access_refused", {**old.fields, "reason": "screening_unavailable",
                                                     "detail": "superseded by another tap"}))
        self.pending = tap
        verdict, done = self.evaluate(tap.tap_at)
        return actions, verdict, done

    def evaluate(self, now: float) -> tuple[Verdict | None, PendingTap | None]:
        """Re-judge the pending tap. Returns (verdict, tap) when final, (retest verdict, None) to signal."""
        tap = self.pending
        if tap is None:
            return None, None
        verdict = self.policy.judge(self.screening.assess(tap.tap_at, now))
        if verdict.final:
            self.pending = None
            return verdict, tap
        if verdict.outcome == "retest" and not tap.retest_signalled:
            tap.retest_signalled = True
            return verdict, None
        return None, None


def verdict_actions(verdict: Verdict, tap: PendingTap) -> tuple[list[Action], bool]:
    """Records and feedback for a final verdict; True when the tap is granted."""
    fields = dict(tap.fields)
    if verdict.temperature_c is not None:
        fields["temperature_c"] = round(verdict.temperature_c, 2)
    if verdict.signal_guard:
        fields["guard_attention"] = True
    actions: list[Action] = []
    if verdict.alarm == "fever":
        actions.append(Record("fever", {"card": tap.card, "reader": tap.reader,
                                        "temperature_c": round(verdict.temperature_c, 2),
                                        "mode": "enforce" if verdict.outcome == "refuse" else "log-only"}))
    if verdict.outcome == "pass":
        if verdict.reason:
            fields["screening_reason"] = verdict.reason
        return actions + [Record("access_granted", fields)], True
    if verdict.detail:
        fields["detail"] = verdict.detail
    actions.append(Record("access_refused", {**fields, "reason": verdict.reason}))
    actions.append(Signal("fever" if verdict.reason == "fever" else "refused"))
    return actions, False
