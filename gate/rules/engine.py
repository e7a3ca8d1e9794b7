"""CommunityRules: the AccessRules the card flow uses when community rules are configured.

It gathers facts through three ports (passes, households, rule state), lets `policy.evaluate`
decide, and after a real grant records the passage. Overdue outings run on the monotonic clock:
each exit of an outing type schedules `mono + outing_limit`, so an NTP step or a Pi booting with
a wrong wall clock never fires or delays a running timer. Only the exit *time* is persisted (as
wall time, the one clock that means something across a restart); after a restart the remaining
time of each open outing is converted once, at the first tick, with the wall clock of that moment.
"""
from __future__ import annotations

import heapq
import logging
from datetime import datetime, timedelta
from typing import Protocol

from gate.core.access import Decision, PassLookup
from gate.core.actions import Record
from gate.core.errors import StorageError
from gate.core.passes import Pass
from gate.core.timefmt import format_ts
from gate.rules.policy import ENTRY, EXIT, Facts, evaluate, household_key, resolve_direction
from gate.rules.settings import RulesSettings
from gate.rules.state import RuleState, from_ms, to_ms
from gate.rules.unknown import UnknownCardTracker

log = logging.getLogger("gate.rules")
PRUNE_EVERY_S = 3600.0


class HouseholdLookup(Protocol):
    def quarantine_until(self, household: str) -> datetime | None: ...


class CommunityRules:
    """AccessRules with households, direction, quarantine, quotas, anti-passback, overdue, schedules
    and unknown-card follow-up. Single-threaded (the core's thread); `close()` closes what it owns."""

    def __init__(
        self,
        settings: RulesSettings,
        passes: PassLookup,
        households: HouseholdLookup,
        state: RuleState,
        *,
        owned: tuple = (),
    ):
        self.settings = settings
        self.passes = passes
        self.households = households
        self.state = state
        self._owned = list(owned)
        self._unknown = UnknownCardTracker(settings.unknown_card_attempts, settings.unknown_card_window_seconds)
        self._heap: list[tuple[float, str, datetime]] = []  # (deadline mono, card, left at)
        self._open: dict[str, datetime] = {}  # card -> left at, for outings still timed
        self._loaded = settings.outing_limit_seconds <= 0
        self._next_prune: float | None = None

    def close(self) -> None:
        owned, self._owned = self._owned, []
        for resource in reversed(owned):
            resource.close()

    def __enter__(self) -> "CommunityRules":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def apply_settings(self, settings: RulesSettings) -> None:
        """Config reload (on the core's thread): new settings from the next tap. A changed outing
        limit re-arms every open outing from its stored exit time at the next tick."""
        old, self.settings = self.settings, settings
        if (old.unknown_card_attempts, old.unknown_card_window_seconds) != (
            settings.unknown_card_attempts, settings.unknown_card_window_seconds
        ):
            self._unknown = UnknownCardTracker(settings.unknown_card_attempts, settings.unknown_card_window_seconds)
        if old.outing_limit_seconds != settings.outing_limit_seconds:
            self._heap.clear()
            self._open.clear()
            self._loaded = settings.outing_limit_seconds <= 0

    # --- AccessRules ---------------------------------------------------------------------------
    def decide(self, card: str, reader: str, wall: datetime, mono: float, direction: str | None = None) -> Decision:
        s = self.settings
        role = s.role(reader)
        p = self.passes.get(card)
        if p is None:
            d = resolve_direction(role, direction, None, False) if role != "both" or direction in (ENTRY, EXIT) else None
            return Decision(False, "unknown_card", {"direction": d} if d else {}, tuple(self._unknown.attempt(card, mono, reader)))
        presence = None
        if s.anti_passback != "off" or (role == "both" and direction not in (ENTRY, EXIT)):
            presence = self.state.presence(card)
        d = resolve_direction(role, direction, presence, p.pass_type in s.outing_types)
        hq = self.households.quarantine_until(p.household) if d == EXIT and p.household else None
        facts = Facts(p, reader, d, hq, presence, self.state.outings_since)
        return evaluate(facts, s, wall)

    def granted(self, card: str, reader: str, decision: Decision, wall: datetime, mono: float) -> list[Record]:
        direction = decision.fields.get("direction")
        if direction not in (ENTRY, EXIT):
            return []
        s = self.settings
        outing = direction == EXIT and decision.fields.get("pass_type") in s.outing_types
        out: list[Record] = []
        try:
            self._load(wall, mono)
            before = self.state.presence(card) if direction == ENTRY and s.outing_limit_seconds > 0 else None
            key = household_key(Pass(card, "-", decision.fields.get("household"))) if outing else None
            self.state.record_passage(card, "out" if direction == EXIT else "in", wall, outing_of=key)
        except StorageError as exc:
            # The door decision stands; losing one passage must not stop the gate. Say so loudly.
            log.error("rules state write failed: %s", exc)
            return [Record("device_fault", {"device": "rules_state", "detail": str(exc)})]
        self._open.pop(card, None)
        if outing and s.outing_limit_seconds > 0:
            left = from_ms(to_ms(wall))  # as stored: millisecond resolution
            self._open[card] = left
            heapq.heappush(self._heap, (mono + s.outing_limit_seconds, card, left))
        if before is not None and before.state == "out" and before.overdue_raised:
            out.append(
                Record(
                    "overdue_returned",
                    {"card": card, "name": decision.fields.get("name"), "household": decision.fields.get("household"),
                     "left_at": format_ts(before.at)},
                )
            )
        return out

    def tick(self, wall: datetime, mono: float) -> list[Record]:
        out: list[Record] = []
        try:
            self._load(wall, mono)
            while self._heap and self._heap[0][0] <= mono:
                _, card, left = heapq.heappop(self._heap)
                if self._open.get(card) != left:
                    continue  # came back, or left again since: a newer entry rules
                del self._open[card]
                if self.state.mark_overdue(card, left):
                    out.append(self._overdue(card, left))
            self._prune(wall, mono)
        except StorageError as exc:
            log.error("rules state failed during tick: %s", exc)
        return out

    def next_deadline(self) -> float | None:
        while self._heap and self._open.get(self._heap[0][1]) != self._heap[0][2]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    # --- internals -----------------------------------------------------------------------------
    def _load(self, wall: datetime, mono: float) -> None:
        """Once: re-arm the timers of outings that were open when the gate last stopped."""
        if self._loaded:
            return
        limit = self.settings.outing_limit_seconds
        for card, left in self.state.open_outings():
            remaining = (left + timedelta(seconds=limit) - wall).total_seconds()
            self._open[card] = left
            heapq.heappush(self._heap, (mono + max(0.0, remaining), card, left))
        self._loaded = True

    def _overdue(self, card: str, left: datetime) -> Record:
        p = self.passes.get(card)
        return Record(
            "overdue",
            {
                "card": card,
                "name": p.name if p else None,
                "household": p.household if p else None,
                "left_at": format_ts(left),
                "limit_minutes": round(self.settings.outing_limit_seconds / 60),
            },
        )

    def _prune(self, wall: datetime, mono: float) -> None:
        """Hourly: drop outings older than any quota period could look back (plus a day of margin)."""
        if self._next_prune is not None and mono < self._next_prune:
            return
        self._next_prune = mono + PRUNE_EVERY_S
        keep = timedelta(days=self.settings.quota_period_days + 1)
        self.state.prune_outings(wall - keep)
