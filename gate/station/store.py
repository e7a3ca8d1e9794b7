"""The station store: one interface, two backends, picked by `station.store` (interface.md §6).

A path is the embedded SQLite store (`store_sqlite.StationStore`, nothing to install); a
`postgresql://USER@HOST:PORT/DB` URL is `store_pg.PgStationStore` (psycopg 3, the `station` extra), the
store several `serve` instances can share. Both keep every record once per (gate, seq), keep a
conflicting second copy aside (`conflicts()`), and track each gate's sequence and gaps alike.
"""
from __future__ import annotations

from gate.clock import Clock
from gate.station.store_model import (CONFLICT, DUPLICATE, INVALID, KINDS, MAX_ID_CHARS, MAX_SEQ, NEW, Gap,
                                      GateState, StoredRecord, validate_last_seq, validate_record)
from gate.station.store_sqlite import StationStore

__all__ = ["CONFLICT", "DUPLICATE", "INVALID", "KINDS", "MAX_ID_CHARS", "MAX_SEQ", "NEW", "Gap", "GateState",
           "StoredRecord", "StationStore", "is_database_url", "open_station_store", "validate_last_seq",
           "validate_record"]


def is_database_url(store: str) -> bool:
    """True when `station.store` names a PostgreSQL database rather than a SQLite file."""
    return str(store).startswith(("postgresql://", "postgres://"))


def open_station_store(store: str, *, clock: Clock | None = None, backfill_new_gates: bool = True):
    """The store `station.store` names: a PostgreSQL URL or a SQLite path."""
    if is_database_url(store):
        from gate.station.store_pg import PgStationStore  # psycopg only where PostgreSQL is used

        return PgStationStore(store, clock=clock, backfill_new_gates=backfill_new_gates)
    return StationStore(store, clock=clock, backfill_new_gates=backfill_new_gates)
