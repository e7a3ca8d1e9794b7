"""The gate's copy of its compound's registry: the `passes` table of registry.db plus `registry_meta`
(the version and content hash it holds). A version is applied in ONE transaction on this store's own
connection: the daemon's PassStore keeps reading the previous list (SQLite WAL) until the commit,
then sees the whole new one. Quarantine marks (`quarantine_until`) are the gate's and survive.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from gate.core.timefmt import format_ts
from gate.store.base import SqliteStore
from gate.store.passes import _SCHEMA as _PASSES_SCHEMA

_META = """
CREATE TABLE IF NOT EXISTS registry_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    compound TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL,
    count INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
"""
_SELECT = ("SELECT card, name, household, pass_type, valid_from, valid_until, revoked_at IS NOT NULL"
           " FROM passes")


class RegistryReplica(SqliteStore):
    """What registry version this gate holds, and applying a new one all or nothing."""

    SCHEMA = _PASSES_SCHEMA + _META
    WHAT = "registry"

    def held(self) -> dict | None:
        """{compound, version, hash, count} or None when the gate has never held a station version."""
        with self._lock:
            row = self._conn.execute("SELECT compound, version, hash, count FROM registry_meta").fetchone()
        return dict(zip(("compound", "version", "hash", "count"), row)) if row else None

    def apply(self, compound: str, version: int, digest: str, rows: Sequence[Sequence]) -> dict[str, int]:
        """Make the passes table exactly `rows` (validated, hash-checked by the caller): only changed
        rows are written, cards absent from the version are deleted. Returns the counts."""
        now = format_ts(datetime.now(timezone.utc))
        wanted = {r[0]: r for r in rows}
        with self._transaction() as conn:
            have = {r[0]: r for r in conn.execute(_SELECT)}
            gone = [(card,) for card in have.keys() - wanted.keys()]
            changed = []
            for card, r in wanted.items():
                old = have.get(card)
                if old is None or tuple(old[:6]) != tuple(r[:6]) or bool(old[6]) != r[6]:
                    changed.append((card, r[1], r[2], r[3], r[4], r[5], now if r[6] else None, now))
            conn.executemany("DELETE FROM passes WHERE card = ?", gone)
            conn.executemany(
                "INSERT INTO passes(card, name, household, pass_type, valid_from, valid_until, revoked_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(card) DO UPDATE SET name=excluded.name,"
                " household=excluded.household, pass_type=excluded.pass_type, valid_from=excluded.valid_from,"
                " valid_until=excluded.valid_until,"
                " revoked_at=CASE WHEN excluded.revoked_at IS NULL THEN NULL ELSE COALESCE(passes.revoked_at,"
                " excluded.revoked_at) END, updated_at=excluded.updated_at", changed)
            conn.execute("INSERT OR REPLACE INTO registry_meta VALUES (1, ?, ?, ?, ?, ?)",
                         (compound, version, digest, len(rows), now))
        return {"written": len(changed), "deleted": len(gone), "count": len(rows)}


def held_registry(storage_dir: Path) -> dict | None:
    """The registry version a gate's storage holds (None: not compound-managed), for the CLI."""
    path = Path(storage_dir) / "registry.db"
    if not path.exists():
        return None
    with RegistryReplica(path) as replica:
        return replica.held()
