"""One SQLite (WAL) connection for a station-side table set that lives in the station's store file
beside `store.StationStore` (officers, sessions, claims, the audit log). The gate's `gate.store.base`
plays this role on the gate; the station may not import the gate's storage floor, hence this twin."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from gate.core.errors import StorageError


class StationDb:
    """Base of a station table set: subclasses set SCHEMA and WHAT. Thread-safe under one lock."""

    SCHEMA = ""
    WHAT = "station tables"

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, timeout=10.0, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(self.SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot prepare the {self.WHAT}: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"{self.path}: the {self.WHAT} are closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) under the lock; rolled back on any failure."""
        with self._lock:
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"{self.path}: {exc}") from exc
                raise

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
