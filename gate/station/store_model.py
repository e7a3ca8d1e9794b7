"""What both station store backends share: outcomes, the record and status checks, and the rows they
return (`store_sqlite`, `store_pg`; `store.open_station_store` picks one)."""
from __future__ import annotations

import json

from dataclasses import dataclass
from typing import Any

from gate.core.errors import InputError

NEW, DUPLICATE, CONFLICT, INVALID = "new", "duplicate", "conflict", "invalid"
KINDS = ("event", "alarm")
# SQLite's INTEGER and PostgreSQL's BIGINT; a gate reaching it would need 10**11 records a second for 3 years
MAX_SEQ = 2**63 - 1
MAX_ID_CHARS = 128


@dataclass(frozen=True)
class Gap:
    """Seqs `from_seq`..`to_seq` (inclusive) of `gate` are known to exist and are not stored."""

    gate: str
    from_seq: int
    to_seq: int

    @property
    def size(self) -> int:
        return self.to_seq - self.from_seq + 1


@dataclass(frozen=True)
class GateState:
    gate: str
    online: bool | None  # None: no status seen yet
    status_at: str | None
    reported_last_seq: int
    contiguous: int
    max_seq: int
    status_verified: bool | None = None  # did the last status (or last will) carry a valid MAC


@dataclass(frozen=True)
class StoredRecord:
    gate: str
    seq: int
    kind: str
    type: str
    ts: str
    historical: bool
    received_at: str
    record: dict[str, Any]
    acked_by: str | None = None
    verified: bool = True  # False: no valid MAC by the gate's key (shown as unverified)


# The columns `recent` selects, in order: both backends build their rows into records here.
RECENT_COLUMNS = ("gate", "seq", "kind", "type", "ts", "historical", "received_at", "payload", "by", "verified")


def stored_records(rows) -> list[StoredRecord]:
    """StoredRecords from rows of RECENT_COLUMNS (payload as JSON text)."""
    return [StoredRecord(g, s, k, t, ts, bool(h), ra, json.loads(p), by, bool(v))
            for g, s, k, t, ts, h, ra, p, by, v in rows]


def validate_record(gate: str, kind: str, record: Any) -> dict[str, Any]:
    """Check a journal record received on `P/gate/kind`; InputError naming the problem otherwise."""
    if kind not in KINDS:
        raise InputError(f"record kind must be event or alarm, got {kind!r}")
    if not isinstance(record, dict):
        raise InputError(f"{gate}/{kind}: record is not a JSON object")
    seq = record.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        shown = seq if not isinstance(seq, int) or seq.bit_length() <= 70 else f"an integer of {seq.bit_length()} bits"
        raise InputError(f"{gate}/{kind}: seq must be an integer from 1 to 2**63-1, got {shown!r}")
    if record.get("gate") != gate:
        raise InputError(f"{gate}/{kind}: record names gate {str(record.get('gate'))[:MAX_ID_CHARS]!r}, "
                         "not the topic's gate")
    for key in ("id", "ts", "type"):
        value = record.get(key)
        if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
            raise InputError(f"{gate}/{kind} seq {seq}: {key} must be a string of 1-{MAX_ID_CHARS} characters")
    if not isinstance(record.get("historical", False), bool):
        raise InputError(f"{gate}/{kind} seq {seq}: historical must be a boolean")
    return record


def validate_last_seq(gate: str, value: Any) -> int | None:
    """`last_seq` of a status: None (absent) or an integer 0..2**63-1; InputError otherwise."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQ:
        shown = value if not isinstance(value, int) or value.bit_length() <= 70 else f"an integer of {value.bit_length()} bits"
        raise InputError(f"{gate}/status: last_seq must be an integer from 0 to 2**63-1, got {shown!r}")
    return value


def gate_state_of(row) -> GateState:
    """A GateState from a `gates` row (gate, online, status_at, reported, contiguous, max_seq, status_verified)."""
    gate, online, status_at, reported, contiguous, max_seq, status_verified = row
    return GateState(gate, None if online is None else bool(online), status_at, reported, contiguous, max_seq,
                     None if status_verified is None else bool(status_verified))


class RecordRefused(Exception):
    """A record of a batch written without savepoints was refused: write it again with them."""
