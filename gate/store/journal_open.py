"""Opening the journal: schema, the integrity check (gate.store.integrity) against the high-water mark
(gate.store.seqmark), recovery from a damaged journal.db, and the mode kept in journal.state.
A mixin of Journal (gate.store.journal), which holds `path`, `clock`, `mark`, `_conn`, `_tx`."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.core.errors import StorageError
from gate.store.base import open_db
from gate.store.integrity import (JournalDamage, check_connection, inspect_file, keep_wal_copy, last_seq_of,
                                  salvage_undelivered, set_aside)
from gate.store.seqmark import Lockdown

log = logging.getLogger("gate.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    alarm INTEGER NOT NULL,
    security INTEGER NOT NULL,
    body TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_undelivered ON records(delivered, alarm, seq);
CREATE INDEX IF NOT EXISTS records_type ON records(type, seq);
CREATE INDEX IF NOT EXISTS records_security ON records(security, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_commands (cmd_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS seen_commands_at ON seen_commands(seen_at);
"""


class OpeningMixin:
    """Journal.__init__ calls `_open(recover)`; the append path calls the `_persist_*` hooks."""

    def _open(self, recover: bool) -> None:
        mark = self.mark.seq
        salvaged: list[tuple] = []
        damage = inspect_file(self.path, mark)
        if damage is not None and not recover:
            raise StorageError(_refusal(damage))
        if damage is not None and damage.replace_file:
            self.recovery = Recovery(damage, set_aside(self.path, self.clock.wall()))
        elif damage is not None:
            self.recovery = Recovery(damage)
        try:
            # A file found missing or empty is a fresh journal now: only its soundness is checked.
            damage = self._connect(0 if self.recovery is not None else mark)
        except StorageError as exc:
            if not _is_damage(exc):
                raise  # the disk or a permission, not the file: nothing to set aside
            damage = JournalDamage("unreadable", f"{self.path}: {exc.__cause__}", mark)
            if not recover:
                raise StorageError(_refusal(damage)) from exc
        if damage is not None:
            if not recover:
                self._drop_connection()
                raise StorageError(_refusal(damage))
            if damage.replace_file:
                self._drop_connection()
                kept = set_aside(self.path, self.clock.wall())
                salvaged = salvage_undelivered(kept)
                self.recovery = Recovery(damage, kept, len(salvaged))
                if self._connect(0) is not None:
                    raise StorageError(f"{self.path}: a fresh journal failed its check")
            else:  # rolled back: the records it still holds are sound (and may be undelivered): keep them
                self.recovery = Recovery(damage, keep_wal_copy(self.path, self.clock.wall()))
        self._last_seq = max(self._last_seq, mark)
        if self.recovery is not None:
            with self._tx(full=True, what="move the seq counter above the high-water mark") as conn:
                if salvaged:  # not yet at the station: same seq, same id, still undelivered
                    conn.executemany("INSERT OR IGNORE INTO records(seq, id, ts, type, alarm, security, body)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?)", salvaged)
                    self._last_seq = max(self._last_seq, salvaged[-1][0])
                # Continue above the mark, for other processes opening this journal too.
                store_last_seq(conn, self._last_seq)
            log.critical("%s; seqs continue at %d", self.recovery.describe(), self._last_seq + 1)

    def _connect(self, mark: int) -> JournalDamage | None:
        """Open the connection, apply the schema, run the integrity check (gate.store.integrity)."""
        self._conn = open_db(self.path)
        try:
            self._sync = ""
            self._set_sync(True)
            self._conn.executescript(_SCHEMA)
            damage = check_connection(self._conn, self.path, mark)
            self._last_seq = last_seq_of(self._conn)
            return damage
        except sqlite3.Error as exc:
            self._drop_connection()
            raise StorageError(f"{self.path}: cannot prepare journal: {exc}") from exc

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _persist_mode(self, committed: list) -> None:
        """A committed `lockdown` record also sets the mode in journal.state (outside retention's reach)."""
        for rec in reversed(committed):
            if rec.type == "lockdown":
                self.mark.set_lockdown(Lockdown(bool(rec.fields.get("on")), rec.seq, str(rec.fields.get("by", ""))),
                                       seq=rec.seq)  # a lockdown record is committed FULL: on disk already
                return

    def _persist_held_mode(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """The journal refused a batch with a lockdown in it: the mode still reaches journal.state (its
        in-place slot needs no free space); the record itself waits in the controller's memory."""
        for record_type, fields in reversed(items):
            if record_type == "lockdown":
                try:
                    self.mark.set_lockdown(Lockdown(bool(fields.get("on")), None, str(fields.get("by", ""))))
                except StorageError:
                    log.error("cannot persist the lockdown mode either", exc_info=True)
                return

    def lockdown_state(self) -> Lockdown | None:
        """The persisted mode (journal.state); for a journal from before journal.state held it, the
        newest `lockdown` record."""
        if self.mark.lockdown is not None:
            return self.mark.lockdown
        last = self.records(record_type="lockdown", limit=1, newest=True)
        return Lockdown(bool(last[0].fields.get("on")), last[0].seq, str(last[0].fields.get("by", ""))) if last else None


@dataclass(frozen=True)
class Recovery:
    """What the daemon's open found wrong with journal.db and did about it."""

    damage: JournalDamage
    kept_as: Path | None = None  # where the damaged file (or the WAL of a rolled-back one) now is
    salvaged: int = 0  # undelivered records read from the damaged file into the fresh journal

    def describe(self) -> str:
        kept = f"; kept as {self.kept_as.name}" if self.kept_as else ""
        fresh = "; a fresh journal was started" if self.damage.replace_file or self.damage.kind == "missing" else ""
        saved = f" with {self.salvaged} undelivered record(s) read from the damaged one" if self.salvaged else ""
        return f"{self.damage.describe()}{kept}{fresh}{saved}"


def _refusal(damage: JournalDamage) -> str:
    return (f"{damage.describe()}. The gate daemon sets a damaged journal aside (journal.db.damaged-<time>) "
            f"at its next start and continues above seq {damage.mark}; `gatectl doctor` runs this check")


def _is_damage(exc: StorageError) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB behind a StorageError: the file, not the disk or a permission."""
    cause = exc.__cause__
    code = getattr(cause, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def store_last_seq(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('last_seq', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (str(seq),),
    )
