"""The PostgreSQL station store's schema, as numbered migrations applied at start.

A `schema_migrations` table records which versions ran; each runs once, in order, in one transaction
under an advisory lock, so several `serve` instances starting together migrate once. No migration
library (Alembic, yoyo): they bring SQLAlchemy or a CLI for what is a list of numbered SQL scripts;
append a new (version, sql) entry, never edit a released one.
"""
from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE records (
    rid BIGINT GENERATED ALWAYS AS IDENTITY,  -- arrival order (SQLite's rowid)
    gate TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
    type TEXT NOT NULL, ts TEXT NOT NULL, historical BOOLEAN NOT NULL,
    received_at TEXT NOT NULL, payload TEXT NOT NULL,
    verified BOOLEAN NOT NULL DEFAULT TRUE,   -- the record's MAC matched the gate's key
    PRIMARY KEY (gate, seq));
CREATE INDEX records_kind ON records (kind, received_at);
CREATE TABLE gates (
    gate TEXT PRIMARY KEY, online BOOLEAN, status_at TEXT, status TEXT,
    reported_last_seq BIGINT NOT NULL DEFAULT 0,
    floor BIGINT NOT NULL DEFAULT 0,       -- seqs at or below are not expected (see backfill_new_gates)
    contiguous BIGINT NOT NULL DEFAULT 0,  -- every seq in (floor, contiguous] is stored
    max_seq BIGINT NOT NULL DEFAULT 0,
    status_verified BOOLEAN);              -- the last status's MAC matched; NULL: no status yet
CREATE TABLE acks (
    gate TEXT NOT NULL, seq BIGINT NOT NULL, "by" TEXT NOT NULL, at TEXT NOT NULL,
    cmd_id TEXT, gate_ok BOOLEAN, gate_error TEXT, PRIMARY KEY (gate, seq));
CREATE TABLE replay_requests (
    gate TEXT NOT NULL, from_seq BIGINT NOT NULL, to_seq BIGINT NOT NULL,
    cmd_id TEXT NOT NULL, asked_at TEXT NOT NULL);
CREATE INDEX replay_requests_gate ON replay_requests (gate);
CREATE TABLE conflicts (
    cid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gate TEXT NOT NULL, seq BIGINT NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL);
"""),
    # 3: station supervision (gate/station/supervision.py): one row per supervised gate.
    (3, """
CREATE TABLE supervision (
    gate TEXT PRIMARY KEY,
    heard_at TEXT,                                 -- the last verified message from the gate (any instance)
    open_seq BIGINT,                               -- seq (< 0) of its open gate_silent alarm; NULL: none
    last_station_seq BIGINT NOT NULL DEFAULT 0);   -- the station's own seqs for this gate count down from -1
"""),
    # 4: replay leases (gate/station/replay_lease.py): one instance of a shared group asks per gate.
    (4, """
CREATE TABLE replay_leases (
    gate TEXT NOT NULL, purpose TEXT NOT NULL, holder TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,  -- the holder's wall clock, seconds since the epoch
    PRIMARY KEY (gate, purpose));
"""),
)

# Any constant unique to this table set: pg_advisory_xact_lock serialises concurrent migrators.
MIGRATION_LOCK = 0x6761_7465_5354  # "gateST"


def migrate(conn) -> list[int]:
    """Apply the migrations `conn`'s database lacks, in one transaction; returns the versions applied."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        have = {v for (v,) in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, sql in MIGRATIONS:
            if version in have:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
