"""The rules' own memory: who is in or out, and the outings each household made.

`RuleState` is the port the rules use; `MemoryRuleState` keeps it in memory, and
`gate.store.rule_state.SqliteRuleState` in its own SQLite file (tests run one suite on both).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from gate.rules.policy import Presence



def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class RuleState(Protocol):
    """The port the rules engine reads and writes its state through."""

    def presence(self, card: str) -> Presence | None: ...

    def outings_since(self, household: str, since: datetime) -> int: ...

    def record_passage(self, card: str, state: str, at: datetime, *, outing_of: str | None) -> None:
        """One atomic write: the pass is now `state` ("in"/"out"); `outing_of` (a household key) when
        this exit is an outing to count."""
        ...

    def open_outings(self) -> list[tuple[str, datetime]]:
        """Passes out on an outing whose overdue alarm has not been raised: (card, left at)."""
        ...

    def mark_overdue(self, card: str, left_at: datetime) -> bool: ...

    def prune_outings(self, before: datetime) -> int: ...

    def close(self) -> None: ...




class MemoryRuleState:
    """RuleState in memory, for tests and for a gate run without rules state on disk."""

    def __init__(self):
        self._presence: dict[str, Presence] = {}
        self._outings: list[tuple[str, int]] = []

    def close(self) -> None:
        pass

    def presence(self, card: str) -> Presence | None:
        return self._presence.get(card)

    def outings_since(self, household: str, since: datetime) -> int:
        ms = to_ms(since)
        return sum(1 for h, at in self._outings if h == household and at >= ms)

    def record_passage(self, card: str, state: str, at: datetime, *, outing_of: str | None) -> None:
        at = from_ms(to_ms(at))  # the same millisecond resolution as SQLite
        self._presence[card] = Presence(state, at, outing_of is not None, False)
        if outing_of is not None:
            self._outings.append((outing_of, to_ms(at)))

    def open_outings(self) -> list[tuple[str, datetime]]:
        return [(c, p.at) for c, p in self._presence.items() if p.state == "out" and p.outing and not p.overdue_raised]

    def mark_overdue(self, card: str, left_at: datetime) -> bool:
        p = self._presence.get(card)
        if p is None or p.state != "out" or to_ms(p.at) != to_ms(left_at):
            return False
        self._presence[card] = Presence(p.state, p.at, p.outing, True)
        return True

    def prune_outings(self, before: datetime) -> int:
        ms = to_ms(before)
        kept = [(h, at) for h, at in self._outings if at >= ms]
        removed, self._outings = len(self._outings) - len(kept), kept
        return removed
