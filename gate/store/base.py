"""The common ground of the gate's SQLite stores: one WAL connection shared across threads under a
lock, a schema applied on open, closable (safe twice) and a context manager."""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gate.core.errors import StorageError


def open_db(path: Path) -> sqlite3.Connection:
    """A WAL SQLite connection shared across threads (callers serialise with their own lock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private(path)
        conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    return conn


def create_private(path: Path) -> None:
    """Create a new database file 0600 before SQLite does (its -wal/-shm files copy that mode), so a
    store made outside systemd's UMask= (by hand, by the demo, by root) is never world-readable.
    Root creating it inside a folder owned by the daemon's user hands it to that user."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # it exists, or cannot be made: SQLite's own open then says why
    os.close(fd)
    if os.geteuid() == 0:
        owner = path.parent.stat()
        if owner.st_uid != 0:
            os.chown(path, owner.st_uid, owner.st_gid)


class SqliteStore:
    """Base of a store kept in one SQLite file. Subclasses set SCHEMA and WHAT (for error messages)
    and may override `_prepare()` (migrations, pragmas), which runs right after the schema."""

    SCHEMA = ""
    WHAT = "store"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = open_db(self.path)
        try:
            self._conn.executescript(self.SCHEMA)
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            self._conn = None
            raise StorageError(f"{self.path}: cannot prepare the {self.WHAT}: {exc}") from exc

    def _prepare(self) -> None:
        """Hook for migrations and pragmas, inside the constructor's error handling."""

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock. Any failure rolls it back (never left open behind
        the next write); SQLite errors come out as StorageError naming the file."""
        with self._lock:
            if self._conn is None:
                raise StorageError(f"{self.path}: the {self.WHAT} is closed")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"{self.path}: {exc}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
