"""The common ground of the gate's SQLite stores: one WAL connection shared across threads under a
lock, a schema applied on open, closable (safe twice) and a context manager."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .errors import StorageError


def open_db(path: Path) -> sqlite3.Connection:
    """A WAL SQLite connection shared across threads (callers serialise with their own lock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    return conn


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

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
