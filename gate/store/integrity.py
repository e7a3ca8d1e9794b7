"""The journal's integrity check, one function for the daemon (at every open) and `gatectl doctor`.

`check_connection` judges an open journal against its high-water mark (gate.store.seqmark);
`inspect_journal` opens journal.db read-only (never creating it) and runs the same check. Damage kinds:

- `missing` / `empty`: journal.db is gone or 0 bytes although seqs up to the mark were issued;
- `unreadable`: SQLite cannot open it (not a database, malformed header, truncated);
- `corrupt`: it opens but `PRAGMA quick_check` fails (a bad page);
- `rolled_back`: it is sound but ends below the mark: committed records vanished (e.g. a corrupt WAL
  frame after a crash makes SQLite stop reading the WAL there).

`set_aside` moves a damaged file (with its -wal/-shm) to journal.db.damaged-<UTC time> for forensics;
`keep_wal_copy` copies the WAL of a rolled-back journal there (the evidence of the bad frame).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

DAMAGED = ".damaged-"
_SIDE_FILES = ("", "-wal", "-shm")


@dataclass(frozen=True)
class JournalDamage:
    """What is wrong with journal.db. `mark`: the highest seq issued (journal.state)."""

    kind: str  # missing, empty, unreadable, corrupt, rolled_back
    detail: str
    mark: int = 0
    last_seq: int | None = None  # what a readable journal still holds

    @property
    def replace_file(self) -> bool:
        """True when the file cannot be used and must be set aside for a fresh journal."""
        return self.kind in ("empty", "unreadable", "corrupt")

    def describe(self) -> str:
        return f"journal {self.kind.replace('_', ' ')}: {self.detail}"


def last_seq_of(conn: sqlite3.Connection) -> int:
    """The highest seq a journal database has issued (0 for one without the journal's tables)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0] if "records" in tables else 0
    stored = 0
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        stored = int(row[0]) if row else 0
    return max(int(top), stored)


def check_connection(conn: sqlite3.Connection, path: Path, mark: int) -> JournalDamage | None:
    """quick_check, then the seq against the mark. sqlite3 errors are the caller's (unreadable)."""
    rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    if rows != ["ok"]:
        return JournalDamage("corrupt", f"{path}: integrity check failed: {'; '.join(rows).replace(chr(10), ' ')}", mark)
    last = last_seq_of(conn)
    if last < mark:
        return JournalDamage("rolled_back", f"{path} ends at seq {last} but seqs up to {mark} were issued: "
                                            f"records {last + 1}-{mark} are gone (a damaged WAL?)", mark, last)
    return None


def inspect_file(path: Path, mark: int) -> JournalDamage | None:
    """The damage a file shows before anything opens it for writing (missing, empty); None if it looks usable."""
    if not path.exists():
        if mark > 0:
            return JournalDamage("missing", f"{path} does not exist but seqs up to {mark} were issued", mark)
        return None
    if path.stat().st_size == 0 and mark > 0:
        return JournalDamage("empty", f"{path} is 0 bytes but seqs up to {mark} were issued", mark)
    return None


def inspect_journal(path: str | Path, mark: int) -> JournalDamage | None:
    """The whole check on a journal no one needs to open for writing (doctor): read-only, creates nothing."""
    path = Path(path)
    damage = inspect_file(path, mark)
    if damage is not None or not path.exists() or path.stat().st_size == 0:
        return damage
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=10.0)
        try:
            return check_connection(conn, path, mark)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return JournalDamage("unreadable", f"{path}: {exc}", mark)


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def _target(path: Path, now: datetime) -> Path:
    base = path.with_name(f"{path.name}{DAMAGED}{_stamp(now)}")
    target, n = base, 1
    while any(Path(f"{target}{s}").exists() for s in _SIDE_FILES):
        n += 1
        target = Path(f"{base}.{n}")
    return target


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(path: Path, now: datetime) -> Path:
    """Rename journal.db (and its -wal, -shm) to journal.db.damaged-<time>; returns the new name."""
    target = _target(path, now)
    for suffix in _SIDE_FILES:
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{target}{suffix}"))
    _sync_dir(path.parent)
    return target


def keep_wal_copy(path: Path, now: datetime) -> Path | None:
    """Copy journal.db-wal to journal.db.damaged-<time>-wal (the WAL is small; the database may not be)."""
    wal = Path(f"{path}-wal")
    if not wal.exists():
        return None
    target = Path(f"{_target(path, now)}-wal")
    shutil.copyfile(wal, target)
    _sync_dir(path.parent)
    return target


def damaged_copies(folder: Path, name: str = "journal.db") -> list[Path]:
    """Damaged journals set aside earlier in `folder` (for doctor)."""
    return sorted({Path(str(p).removesuffix("-wal").removesuffix("-shm")) for p in folder.glob(f"{name}{DAMAGED}*")})


_SALVAGE = "SELECT seq, id, ts, type, alarm, security, body FROM records NOT INDEXED WHERE delivered = 0 ORDER BY seq"


def salvage_undelivered(path: Path) -> list[tuple]:
    """The undelivered records a damaged journal still yields (best effort): read forwards until the
    first bad page, then backwards until it, so rows beyond it are found too. Rows whose body is not a
    JSON object are skipped. (seq, id, ts, type, alarm, security, body) tuples in seq order."""
    found: dict[int, tuple] = {}
    for order in ("", " DESC"):
        try:
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=10.0)
        except sqlite3.Error:
            return []
        try:
            for row in conn.execute(_SALVAGE + order):
                if row[0] in found:
                    break
                if _plausible(row):
                    found[row[0]] = row
        except sqlite3.Error:
            pass  # the bad page: what was read before it is kept
        finally:
            conn.close()
    return [found[s] for s in sorted(found)]


def _plausible(row: tuple) -> bool:
    seq, rid, ts, rtype, _alarm, _security, body = row
    if not (isinstance(seq, int) and seq > 0 and all(isinstance(v, str) for v in (rid, ts, rtype, body))):
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False
