"""SQL over either station store backend for modules that keep their own queries beside the store
(supervision, retention): statements are written once with `?` placeholders and run in the store's
own transactions (SQLite `BEGIN IMMEDIATE`, a PostgreSQL transaction from its pool), so they take
the same locks and raise the same StorageError as the store's methods."""
from __future__ import annotations

from typing import Any, Callable


class StoreSql:
    """Runs `?`-placeholder SQL on a `StationStore` (SQLite) or a `PgStationStore` (PostgreSQL)."""

    def __init__(self, store: Any):
        self.store = store
        self.is_pg = hasattr(store, "pool")

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_pg else sql  # no statement here holds a literal '?'

    def write(self, fn: Callable[[Callable[..., Any]], Any]) -> Any:
        """Call `fn(execute)` inside one write transaction; `execute(sql, params=())` returns a cursor."""
        def run(conn):
            return fn(lambda sql, params=(): conn.execute(self._sql(sql), tuple(params)))
        return self.store._write(run)  # the store's own transaction and error mapping

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.is_pg:
            return self.store._read(self._sql(sql), tuple(params))
        with self.store._lock:
            return self.store.db.execute(sql, tuple(params)).fetchall()

    def has_table(self, name: str) -> bool:
        if self.is_pg:
            return self.read("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0]
        return bool(self.read("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)))

    def script(self, sqlite_ddl: str) -> None:
        """Create SQLite tables (`CREATE ... IF NOT EXISTS`); PostgreSQL gets them from its migrations."""
        if not self.is_pg:
            with self.store._lock:
                self.store.db.executescript(sqlite_ddl)
