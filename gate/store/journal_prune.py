"""Deleting from the journal: the retention policy's SQL (a mixin of Journal; see gate.store.retention).

The one rule above all others: an undelivered record is never deleted, neither by age nor by count.
The station has not got it yet, so deleting it would lose it. When undelivered records alone exceed
`max_records`, the journal holds more than `max_records` (the free-space alarm is the hard limit) and
the retention raises `storage_low reason=undelivered_backlog` well before (see Retention).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gate.core.timefmt import format_ts

_DELETE_CHUNK = 5_000


@dataclass(frozen=True)
class PruneResult:
    """What one retention pass deleted, and what it had to keep."""

    by_age: int = 0
    by_count: int = 0
    commands: int = 0
    over_cap_undelivered: int = 0  # records above max_records kept because they are undelivered

    @property
    def records(self) -> int:
        return self.by_age + self.by_count


class PruneMixin:
    """Needs the Journal's `_lock`, `_tx`, `count()`, `backlog()` and `clock`."""

    def prune(
        self,
        *,
        retention_days: float,
        security_retention_days: float,
        max_records: int,
        command_ids_days: float = 30.0,
        now: datetime | None = None,
    ) -> PruneResult:
        """Apply the retention policy (never touches the seq counter, never deletes undelivered):

        1. by age: delivered ordinary records older than `retention_days`, delivered security records
           older than `security_retention_days`;
        2. by count: above `max_records`, the oldest delivered ordinary records go first, delivered
           security records only when no delivered ordinary one is left;
        3. remembered command ids older than `command_ids_days` (long past the freshness window).

        `now` is the retention's trusted time (Retention passes one guarded against wall-clock jumps).
        """
        now = now or self.clock.wall()
        cut_ordinary = format_ts(now - timedelta(days=retention_days))
        cut_security = format_ts(now - timedelta(days=security_retention_days))
        cut_commands = format_ts(now - timedelta(days=command_ids_days))
        by_age = self._delete_chunks(
            "SELECT seq FROM records WHERE delivered = 1 AND ((security = 0 AND ts < ?) OR (security = 1 AND ts < ?))"
            " ORDER BY seq LIMIT ?",
            (cut_ordinary, cut_security),
        )
        by_count = 0
        for security in (0, 1):
            excess = self.count() - max_records
            while excess > 0:
                n = self._delete_chunks(
                    "SELECT seq FROM records WHERE delivered = 1 AND security = ? ORDER BY seq LIMIT ?", (security,),
                    limit=min(excess, _DELETE_CHUNK), once=True,
                )
                if n == 0:
                    break
                by_count += n
                excess -= n
        with self._lock:
            with self._tx(full=False, what="forget old command ids") as conn:
                commands = conn.execute("DELETE FROM seen_commands WHERE seen_at < ?", (cut_commands,)).rowcount
        over = max(0, self.count() - max_records)
        return PruneResult(by_age, by_count, commands, over)

    def _delete_chunks(self, select: str, args: tuple, *, limit: int = _DELETE_CHUNK, once: bool = False) -> int:
        """Delete what `select` (ending in LIMIT ?) names, in short transactions so appends never wait long."""
        total = 0
        while True:
            with self._lock:
                with self._tx(full=False, what="prune journal") as conn:
                    n = conn.execute(f"DELETE FROM records WHERE seq IN ({select})", (*args, limit)).rowcount
            total += n
            if once or n < limit:
                return total
