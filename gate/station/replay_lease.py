"""Who of several consumers sharing one store asks a gate for a replay: a lease per (gate, purpose).

With N `serve` instances in one `mqtt.shared_group` on one PostgreSQL, every instance sees the same
gaps (the store is shared) and would ask the gate N times. Before asking, an instance takes the
gate's lease for as long as its own back-off keeps it from asking again; the others find the lease
held and back off as though they had asked. A lease is never released: it expires, so a consumer
that dies holding one delays the next ask by at most one lease, and then another instance asks.

Expiry is compared on the instances' wall clocks (the injected clock, so tests are deterministic):
NTP-synchronised stations differ by milliseconds, the leases last seconds. One SQLite file has one
consumer, so `NoLease` grants every ask and keeps the single-instance behaviour.
"""
from __future__ import annotations

from typing import Protocol

from gate.clock import Clock

GAP, PROBE = "gap", "probe"  # the purposes: filling a known gap, or the catch-up probe after a connect


class ReplayLease(Protocol):
    def take(self, gate: str, purpose: str, seconds: float) -> bool:
        """True when this instance may ask `gate` now (and holds the lease `seconds` long)."""
        ...


class NoLease:
    """The single-instance store (SQLite): every ask is this instance's to make."""

    def take(self, gate: str, purpose: str, seconds: float) -> bool:
        return True


# Taken when absent, expired, or already ours (a renewal); one statement, so two instances racing
# for one gate serialise on the row and exactly one of them gets it.
_TAKE = ("INSERT INTO replay_leases (gate, purpose, holder, expires_at) VALUES (%s, %s, %s, %s) "
         "ON CONFLICT (gate, purpose) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
         "WHERE replay_leases.holder = EXCLUDED.holder OR replay_leases.expires_at <= %s "
         "RETURNING holder")


class PgReplayLease:
    """Leases in the `replay_leases` table (migration 4) through the PostgreSQL store's pool."""

    def __init__(self, pool, holder: str, clock: Clock):
        self._pool, self.holder, self._clock = pool, holder, clock

    def take(self, gate: str, purpose: str, seconds: float) -> bool:
        now = self._clock.wall().timestamp()
        with self._pool.connection() as conn:
            row = conn.execute(_TAKE, (gate, purpose, self.holder, now + seconds, now)).fetchone()
        return row is not None

    def holder_of(self, gate: str, purpose: str) -> tuple[str, float] | None:
        """(holder, expires_at) of the lease, for tests and diagnostics."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT holder, expires_at FROM replay_leases WHERE gate=%s AND purpose=%s",
                               (gate, purpose)).fetchone()
        return None if row is None else (row[0], row[1])


def lease_for(store, holder: str, clock: Clock) -> ReplayLease:
    """The lease that fits `store`: shared rows on PostgreSQL, none for the one-instance SQLite store."""
    if getattr(store, "pool", None) is None:  # only the PostgreSQL store has a connection pool
        return NoLease()
    return PgReplayLease(store.pool, holder, clock)
