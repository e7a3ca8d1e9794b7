"""The door and lock state machine: pure, driven by events stamped with monotonic times.

locked → released (grant, for unlock_seconds) → door open → door closed → locked again.

- Debounce lives here, on the events' own timestamps: a raw contact change counts once the
  contact has stayed in its new position for `debounce_seconds`, and then it counts from the moment
  it happened. A change that reverses sooner is bounce; one that lasts longer is never lost, even
  when the reversal is processed before the next tick (every input first runs the timers up to its
  own time).
- Bounded debounce: a contact that is mostly open is open. While the door counts as closed, an
  opening that lasts in sum more than `debounce_seconds` within any span of 1.5 times that (two
  thirds of the time open; even flutter stays bounce, allowing for timing jitter) counts from its
  first edge, however often it flickers shut meanwhile (a vibrating magnet must
  not hide a forced opening). Closing is never inferred from flicker: an open door counts as closed
  only once the contact has stayed closed for the debounce time.
- Chatter: edges that keep coming for `chatter_seconds` without the contact ever resting for the
  debounce time raise `door_contact_fault`; it clears once the contact has rested that long.
- A door that opens with no grant running and no fire release is a forced opening.
- After a legitimate opening the held-open supervision runs: a local pre-alarm, then the
  `held_open` alarm; closing the door clears it and relocks.
- While the fire release is active the lock stays released and nothing is forced or held.
Only monotonic `at` values are used, so wall-clock jumps cannot move any timer.
"""
from __future__ import annotations

from dataclasses import dataclass

from gate.core.actions import Action, DriveLock, Record, Signal
from gate.core.alarms import ClearAlarm

_EPS = 1e-9  # float slack so an opening of exactly the debounce time is not taken for bounce


@dataclass(frozen=True)
class DoorSettings:
    unlock_seconds: float = 5.0
    exit_unlock_seconds: float = 5.0
    held_open_seconds: float = 30.0
    prealarm_seconds: float = 10.0
    debounce_seconds: float = 0.15
    chatter_seconds: float = 2.0


SUM_SPAN_FACTOR = 1.5  # the bounded-debounce span, in debounce times
_MAX_OPEN_SPANS = 256  # raw openings remembered inside the bounded-debounce span (memory stays bounded)


class DoorStateMachine:
    """Lock and door state. Every method returns the actions to perform (the core puts Records first)."""

    def __init__(self, settings: DoorSettings, *, door_open: bool = False):
        self.settings = settings
        self.released = False
        self.fire = False
        self.door_open = door_open  # debounced position
        self.grant_until: float | None = None
        self.grant_kind: str | None = None
        self._raw_open = door_open
        self._pending_since: float | None = None  # raw contact differs from door_open since then
        self._raw_open_since: float | None = None  # the raw contact has been open since (door closed)
        self._open_spans: list[tuple[float, float]] = []  # finished raw openings inside the span
        self._last_edge: float | None = None
        self._unsettled_since: float | None = None  # edges without a rest of the debounce time since
        self._edges = 0  # in the current unsettled run
        self._chatter_raised = False
        self._sum_check_at: float | None = None  # earliest time the summed opening can exceed the debounce
        self._door_used = False  # the door opened (or was open) since the current grant
        self._forced = False  # forced_open raised for the current opening
        self._held_from: float | None = None  # held-open supervision running since
        self._prealarm_sent = False
        self._held_raised = False
        # Open when the daemon starts: whether that opening was legitimate is unknown, so no
        # forced alarm; it is supervised as held open from the first moment the core sees.
        self._open_at_start = door_open

    # --- queries -------------------------------------------------------------------------------
    @property
    def lock_state(self) -> str:
        return "unlocked" if self.released else "locked"

    @property
    def door_state(self) -> str:
        return "open" if self.door_open else "closed"

    def next_deadline(self) -> float | None:
        s = self.settings
        due: list[float] = []
        if self._pending_since is not None:
            due.append(self._pending_since + s.debounce_seconds)
        if self._sum_check_at is not None:
            due.append(self._sum_check_at)
        if self._chatter_raised and self._last_edge is not None:
            due.append(self._last_edge + s.debounce_seconds)
        if self.released and not self.fire and self.grant_until is not None:
            due.append(self.grant_until)
        if self._held_from is not None and not self._held_raised:
            due.append(self._held_from + s.held_open_seconds)
            if not self._prealarm_sent and s.prealarm_seconds > 0:
                due.append(self._held_from + s.held_open_seconds - s.prealarm_seconds)
        return min(due) if due else None

    # --- inputs --------------------------------------------------------------------------------
    def grant(self, kind: str, now: float, seconds: float | None = None) -> list[Action]:
        """Release the lock for a grant (card, exit, override, remote...). A grant never shortens
        one already running."""
        s = self.settings
        duration = seconds if seconds is not None else (s.exit_unlock_seconds if kind == "exit" else s.unlock_seconds)
        until = now + duration
        if self.released and self.grant_until is not None:
            until = max(until, self.grant_until)
        self.grant_until = until
        self.grant_kind = kind
        self._door_used = self.door_open
        if self.released:
            return []
        self.released = True
        return [DriveLock(True)]

    def door_changed(self, is_open: bool, at: float) -> list[Action]:
        """A raw contact edge. It takes effect once it has lasted the debounce time."""
        out = self.tick(at)  # whatever was due before this edge happened
        if is_open == self._raw_open:
            return out  # a repeated level is no edge
        out += self._count_edge(at)
        self._raw_open = is_open
        if is_open:
            self._raw_open_since = at
        elif self._raw_open_since is not None:
            self._open_spans.append((self._raw_open_since, at))
            del self._open_spans[:-_MAX_OPEN_SPANS]
            self._raw_open_since = None
        if is_open == self.door_open:
            self._pending_since = None  # reversed within the debounce time: bounce
        elif self._pending_since is None:
            self._pending_since = at
        if self.settings.debounce_seconds <= 0:
            out += self._settle(at)
        else:
            out += self._summed_opening(at)
        return out

    def fire_changed(self, active: bool, at: float) -> list[Action]:
        """The fire release overrides everything: unlock and stay unlocked while it is active."""
        out = self.tick(at)
        if active == self.fire:
            return out
        self.fire = active
        if active:
            out.append(Record("fire_release", {}))
            self._held_from = None  # evacuation: an open door is expected
            if not self.released:
                self.released = True
                out.append(DriveLock(True, "fire"))
            return out
        out.append(ClearAlarm("fire_release"))
        if self.grant_until is None or at >= self.grant_until:
            out += self._relock("fire_cleared")
        if self.door_open and not self._held_raised:
            self._start_held(at)  # still open after the fire: supervise it from now
        return out

    def revoke_grant(self, cause: str, *, keep_kinds: frozenset[str] = frozenset()) -> list[Action]:
        """End the running grant now (e.g. lockdown), unless the fire release holds the lock open
        or the grant is of a kind in `keep_kinds`."""
        if self.fire or not self.released or self.grant_kind in keep_kinds:
            return []
        return self._relock(cause)

    def tick(self, now: float) -> list[Action]:
        """Run every timer due at `now`, in the order they fell due."""
        out: list[Action] = []
        if self._open_at_start:
            self._open_at_start = False
            if self.door_open and not self.fire:
                self._start_held(now)
        out += self._settle(now)
        out += self._summed_opening(now)
        out += self._chatter_rested(now)
        opening_in_grant = (self._pending_since is not None and self._raw_open
                            and self.grant_until is not None and self._pending_since <= self.grant_until)
        # An opening that began inside the grant is still settling (debounce): let it settle as the
        # authorised opening it is before the grant expires, or it would be taken for a forced one.
        if (self.released and not self.fire and self.grant_until is not None and now >= self.grant_until
                and not opening_in_grant):
            out += self._relock("timeout" if self._door_used else "grant_unused")
        out += self._held_timers(now)
        return out

    # --- internals -----------------------------------------------------------------------------
    def _settle(self, now: float) -> list[Action]:
        since = self._pending_since
        if since is None or now - since < self.settings.debounce_seconds - _EPS:
            return []
        self._pending_since = None
        self._open_spans.clear()  # a settled position starts the bounded-debounce span afresh
        return self._opened(since) if self._raw_open else self._closed(since)

    def _summed_opening(self, now: float) -> list[Action]:
        """Bounded debounce: more than the debounce time open within `SUM_SPAN_FACTOR` times it is an opening,
        from the first raw opening edge of that span."""
        s = self.settings
        self._sum_check_at = None
        if self.door_open or s.debounce_seconds <= 0:
            return []
        span = SUM_SPAN_FACTOR * s.debounce_seconds
        self._open_spans = [(a, b) for a, b in self._open_spans if b > now - span]
        total = sum(b - max(a, now - span) for a, b in self._open_spans)
        if self._raw_open_since is not None:
            total += now - max(self._raw_open_since, now - span)
        if total <= s.debounce_seconds + _EPS:
            if self._raw_open_since is not None:
                # The sum grows at most as fast as time: it cannot cross before this (a tenth of the
                # debounce at least, so a steady half-open flutter costs a few ticks, not a spin).
                self._sum_check_at = now + max(s.debounce_seconds - total, s.debounce_seconds / 10)
            return []
        starts = [a for a, _ in self._open_spans] + ([self._raw_open_since] if self._raw_open_since is not None else [])
        first = max(min(starts), now - span)
        self._open_spans.clear()
        # Open from `first`. A contact that flickered shut at this moment must still prove the close.
        self._pending_since = None if self._raw_open else self._last_edge
        return self._opened(first)

    def _count_edge(self, at: float) -> list[Action]:
        s = self.settings
        if self._last_edge is None or at - self._last_edge >= s.debounce_seconds - _EPS:
            self._unsettled_since, self._edges = at, 0  # the contact had rested: a new run
        self._last_edge = at
        self._edges += 1
        if (not self._chatter_raised and self._unsettled_since is not None
                and at - self._unsettled_since >= s.chatter_seconds):
            self._chatter_raised = True
            return [Record("door_contact_fault", {"edges": self._edges, "seconds": round(at - self._unsettled_since, 3)})]
        return []

    def _chatter_rested(self, now: float) -> list[Action]:
        if not self._chatter_raised or self._last_edge is None or now - self._last_edge < self.settings.debounce_seconds - _EPS:
            return []
        self._chatter_raised = False
        self._unsettled_since = None
        return [ClearAlarm("door_contact_fault")]

    def _opened(self, t: float) -> list[Action]:
        self.door_open = True
        self._door_used = True
        legitimate = self.fire or (self.released and self.grant_until is not None and t <= self.grant_until)
        fields: dict = {"authorised": legitimate}
        if legitimate:
            fields["grant"] = "fire" if self.fire else self.grant_kind
            if not self.fire:
                self._start_held(t)
            return [Record("door_opened", fields)]
        self._forced = True
        return [Record("forced_open", {}), Record("door_opened", fields), Signal("alarm")]

    def _closed(self, t: float) -> list[Action]:
        self.door_open = False
        out: list[Action] = [Record("door_closed", {})]
        if self._forced:
            self._forced = False
            out.append(ClearAlarm("forced_open"))
        if self._held_raised:
            out.append(ClearAlarm("held_open"))
        if self._held_raised or self._prealarm_sent:
            out.append(Signal("silence"))
        self._held_from = None
        self._held_raised = self._prealarm_sent = False
        if self.released and not self.fire:
            out += self._relock("door_closed")  # relock as soon as the door shuts behind them
        return out

    def _start_held(self, t: float) -> None:
        self._held_from = t
        self._prealarm_sent = False
        self._held_raised = False

    def _held_timers(self, now: float) -> list[Action]:
        if self._held_from is None or self._held_raised or not self.door_open or self.fire:
            return []
        s = self.settings
        due = self._held_from + s.held_open_seconds
        if now >= due:
            self._held_raised = True
            return [Record("held_open", {"seconds": s.held_open_seconds}), Signal("alarm")]
        if not self._prealarm_sent and s.prealarm_seconds > 0 and now >= due - s.prealarm_seconds:
            self._prealarm_sent = True
            return [Signal("prealarm")]
        return []

    def _relock(self, cause: str) -> list[Action]:
        kind = self.grant_kind
        self.grant_until = None
        self.grant_kind = None
        if not self.released:
            return []
        self.released = False
        return [Record("relocked", {"cause": cause, "grant": kind}), DriveLock(False)]
