"""Each compound's pass registry at the station, versioned (docs/registry.md).

Tables in the station's store file: `registry_passes` (the current list per compound) and
`registry_versions` (one row per change: version, content hash, pass count, what changed). Every
change (import, add, revoke) is one transaction that writes the new list and its version together,
so a version number always names exactly one content.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from gate.core.errors import InputError
from gate.core.passes import Pass
from gate.core.registry import ContentHash, Row, pass_row
from gate.core.timefmt import format_ts
from gate.station.dbfile import StationDb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_passes (
    compound TEXT NOT NULL,
    card TEXT NOT NULL,
    name TEXT NOT NULL,
    household TEXT,
    pass_type TEXT NOT NULL,
    valid_from TEXT,
    valid_until TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (compound, card)
);
CREATE TABLE IF NOT EXISTS registry_versions (
    compound TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL,
    count INTEGER NOT NULL,
    change TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (compound, version)
);
CREATE TABLE IF NOT EXISTS registry_published (
    gate TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    chunks INTEGER NOT NULL
);
"""
_COLS = "card, name, household, pass_type, valid_from, valid_until, revoked"


@dataclass(frozen=True)
class RegistryVersion:
    """One version of a compound's registry."""

    compound: str
    version: int
    hash: str
    count: int
    change: str
    created_at: str


class StationRegistry(StationDb):
    """The compounds' registries. `import_passes`, `add`, `revoke` each make one new version."""

    SCHEMA = _SCHEMA
    WHAT = "registry tables"

    def current(self, compound: str) -> RegistryVersion | None:
        with self._lock:
            row = self.db.execute(
                "SELECT compound, version, hash, count, change, created_at FROM registry_versions"
                " WHERE compound = ? ORDER BY version DESC LIMIT 1", (compound,)).fetchone()
        return RegistryVersion(*row) if row else None

    def published(self, gate: str) -> tuple[int, int] | None:
        """(version, chunk count) last published retained for `gate`, so its chunks can be cleared."""
        with self._lock:
            row = self.db.execute("SELECT version, chunks FROM registry_published WHERE gate = ?", (gate,)).fetchone()
        return (row[0], row[1]) if row else None

    def mark_published(self, gate: str, version: int, chunks: int) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO registry_published VALUES (?, ?, ?)", (gate, version, chunks))

    def rows(self, compound: str) -> list[Row]:
        """The current list in card order, as wire rows (gate.core.registry)."""
        with self._lock:
            found = self.db.execute(f"SELECT {_COLS} FROM registry_passes WHERE compound = ? ORDER BY card",
                                    (compound,)).fetchall()
        return [[c, n, h, t, vf, vu, bool(r)] for c, n, h, t, vf, vu, r in found]

    def import_passes(self, compound: str, passes: Iterable[Pass], *, source: str = "import") -> RegistryVersion:
        """Replace the compound's whole list (all or nothing): cards not in `passes` leave it."""
        rows = [pass_row(p, revoked=False) for p in passes]
        return self._change(compound, f"import {source}: {len(rows)} passes", replace=rows)

    def add(self, compound: str, p: Pass) -> RegistryVersion:
        """Add or replace one pass (un-revoking it)."""
        return self._change(compound, f"add {p.card}", upsert=[pass_row(p, revoked=False)])

    def revoke(self, compound: str, card: str) -> RegistryVersion:
        """Revoke one pass (it stays listed, so gates refuse it as `revoked`); InputError when unknown
        or already revoked (nothing changes, no version is made)."""
        with self._lock:
            row = self.db.execute("SELECT revoked FROM registry_passes WHERE compound = ? AND card = ?",
                                  (compound, card)).fetchone()
        if row is None:
            raise InputError(f"revoke: compound {compound!r} has no pass for card {card}")
        if row[0]:
            raise InputError(f"revoke: card {card} is already revoked in compound {compound!r}")
        return self._change(compound, f"revoke {card}", revoke=card)

    def _change(self, compound: str, change: str, *, replace: list[Row] | None = None,
                upsert: list[Row] | None = None, revoke: str | None = None) -> RegistryVersion:
        if not compound:
            raise InputError("--compound: must not be empty")
        now = format_ts(datetime.now(timezone.utc))
        with self.transaction() as db:
            if replace is not None:
                db.execute("DELETE FROM registry_passes WHERE compound = ?", (compound,))
            for r in (replace or []) + (upsert or []):
                db.execute(f"INSERT OR REPLACE INTO registry_passes(compound, {_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                           (compound, r[0], r[1], r[2], r[3], r[4], r[5], int(r[6])))
            if revoke is not None:
                db.execute("UPDATE registry_passes SET revoked = 1 WHERE compound = ? AND card = ?",
                           (compound, revoke))
            h = ContentHash()
            for c, n, hh, t, vf, vu, rv in db.execute(
                    f"SELECT {_COLS} FROM registry_passes WHERE compound = ? ORDER BY card", (compound,)):
                h.add([c, n, hh, t, vf, vu, bool(rv)])
            last = db.execute("SELECT MAX(version) FROM registry_versions WHERE compound = ?",
                              (compound,)).fetchone()[0] or 0
            version = RegistryVersion(compound, last + 1, h.hexdigest(), h.count, change, now)
            db.execute("INSERT INTO registry_versions VALUES (?,?,?,?,?,?)",
                       (compound, version.version, version.hash, version.count, change, now))
        return version
