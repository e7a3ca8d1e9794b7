"""When the station asks a gate to replay, and how much: the per-gate schedule (grace, back-off),
the batch plan of one ask, and the global budget in records per second that paces all asks after
an outage (docs/station.md, "Replays and storms"). Pure logic on an injected clock."""
from __future__ import annotations

from gate.clock import Clock
from gate.station.store_model import Gap


def plan_requests(gaps: list[Gap], max_batch: int) -> list[tuple[int, int]]:
    """Replay ranges covering the oldest missing seqs, at most `max_batch` records in all, so one
    replay never overflows the broker's queue for this client (mosquitto drops beyond 1,000)."""
    out: list[tuple[int, int]] = []
    budget = max_batch
    for gap in gaps:
        if budget <= 0:
            break
        to = min(gap.to_seq, gap.from_seq + budget - 1)
        out.append((gap.from_seq, to))
        budget -= to - gap.from_seq + 1
    return out


class ReplaySchedule:
    """When to ask which gate for a replay. A gap is asked for only once it has stood still for
    `grace` seconds (records may still be on their way, or a sibling instance may be storing them);
    unanswered asks back off exponentially from `initial` to `maximum`. Pure logic on an injected clock."""

    def __init__(self, clock: Clock, *, grace: float, initial: float, maximum: float):
        self._clock, self._grace, self._initial, self._max = clock, grace, initial, maximum
        self._missing: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._delay: dict[str, float] = {}

    def observe(self, gate: str, missing: int) -> None:
        """Tell the schedule how many seqs `gate` currently misses."""
        now = self._clock.monotonic()
        before = self._missing.get(gate)
        if missing <= 0:
            for d in (self._missing, self._next, self._delay):
                d.pop(gate, None)
            return
        self._missing[gate] = missing
        if before is None or missing > before:
            self._next[gate] = now + self._grace  # a new gap: give in-flight records a moment
            self._delay[gate] = self._initial
        elif missing < before:
            # Progress (live, backlog or our replay flowing in): wait until it stops, and the
            # replay evidently works, so the next unanswered ask starts from the short delay again.
            self._next[gate] = max(self._next[gate], now + self._grace)
            self._delay[gate] = self._initial

    def due(self) -> list[str]:
        now = self._clock.monotonic()
        return sorted(g for g, t in self._next.items() if now >= t)

    def asked(self, gate: str) -> None:
        """A replay was sent: wait the current delay before asking again, then double it."""
        delay = self._delay.get(gate, self._initial)
        self._next[gate] = self._clock.monotonic() + delay
        self._delay[gate] = min(delay * 2, self._max)

    def pending(self) -> dict[str, int]:
        return dict(self._missing)


    def delay(self, gate: str) -> float:
        """The wait `asked(gate)` would set now (how long an ask of this gate stays unrepeated)."""
        return self._delay.get(gate, self._initial)

    def next_due(self, gate: str) -> float | None:
        """When `gate` becomes (or became) due, on the monotonic clock; None: nothing missing."""
        return self._next.get(gate)


class ReplayBudget:
    """A token bucket of records: `rate` records per second, holding at most `burst`. An ask for n
    records takes n tokens; with too few it waits (nothing is taken), so the asks of all gates
    together never exceed `rate` on average. `burst` is at least one full ask (`max_batch`)."""

    def __init__(self, clock: Clock, *, rate: float, burst: float):
        self._clock, self.rate, self.burst = clock, float(rate), float(burst)
        self._tokens = self.burst
        self._at = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    def take(self, n: int) -> bool:
        """Take `n` tokens if there are that many; False (and nothing taken) otherwise."""
        self._refill()
        if n > self._tokens:
            return False
        self._tokens -= n
        return True
