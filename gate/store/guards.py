"""Guards and their keypad PINs, stored hashed (hashlib.scrypt, a random salt per PIN) in SQLite.

Table `guards` lives in the gate's registry database (shared with the pass store, which uses its
own tables). A PIN is never stored, logged or returned; `verify` hashes the candidate against every
stored PIN and duress PIN and compares in constant time, without stopping at the first match, so
its duration does not tell which guard (or whether a duress PIN) matched.

Cost: scrypt n=2**12, r=8, p=1 (4 MiB per hash). Measured on the 2-core x86 development machine:
~8.5 ms per stored PIN, so `verify` takes ~17 ms for one guard with a duress PIN, ~42 ms for three
guards (two with duress PINs), ~68 ms for five (eight PINs); expect 3-4x that on a Raspberry Pi 4.
Call it off any latency-critical loop. The parameters are stored per row, so changing them later
does not invalidate existing PINs.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gate.core.errors import InputError, StorageError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 12, 8, 1
_SALT_LEN, _HASH_LEN = 16, 32
_MAXMEM = 64 * 1024 * 1024
MAX_PIN_LENGTH = 12
_GUARD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guards (
    guard_id    TEXT PRIMARY KEY,
    pin_salt    BLOB NOT NULL,
    pin_hash    BLOB NOT NULL,
    duress_salt BLOB,
    duress_hash BLOB,
    kdf_n       INTEGER NOT NULL,
    kdf_r       INTEGER NOT NULL,
    kdf_p       INTEGER NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


@dataclass(frozen=True)
class GuardInfo:
    """What may be shown about a guard: never a PIN or a hash."""

    guard_id: str
    has_duress: bool
    updated_at: str


class GuardExists(InputError):
    """`add` of a guard id that is registered already, without `replace`."""


def pin_weakness(pin: str, min_length: int = 4) -> str | None:
    """Why `pin` is unfit as a keypad PIN, or None if it is fine."""
    if not pin.isascii() or not pin.isdigit():
        return "must contain digits only (the keypad has no other keys a PIN can use)"
    if len(pin) < min_length:
        return f"must be at least {min_length} digits, got {len(pin)}"
    if len(pin) > MAX_PIN_LENGTH:
        return f"must be at most {MAX_PIN_LENGTH} digits, got {len(pin)}"
    if len(set(pin)) == 1:
        return "is one digit repeated; choose a less guessable PIN"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({1}, {9}):
        return "is a run of consecutive digits; choose a less guessable PIN"
    return None


def _hash(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("ascii"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM,
                          dklen=_HASH_LEN)


def _new_hash(pin: str) -> tuple[bytes, bytes]:
    salt = os.urandom(_SALT_LEN)
    return salt, _hash(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)


class GuardStore:
    """The guards of one gate. Safe to use from several threads; other processes (the `gatectl
    guards` CLI) may write the same file concurrently and are seen at the next call."""

    def __init__(self, db_path: str | os.PathLike):
        self.path = Path(db_path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            raise StorageError(f"guard store {self.path}: {exc}") from exc

    def add(self, guard_id: str, pin: str, duress_pin: str | None = None,
            min_length: int = 4, *, replace: bool = False, drop_duress: bool = False) -> None:
        """Register a guard. An existing guard is refused unless `replace` (new PINs); a duress PIN
        the guard had is never dropped silently: give a new one, or `drop_duress`."""
        if not isinstance(guard_id, str) or not _GUARD_ID.fullmatch(guard_id):
            raise InputError(f"guard id {guard_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
                             f"starting with a letter or digit")
        problem = pin_weakness(pin, min_length)
        if problem:
            raise InputError(f"guard {guard_id}: PIN {problem}")
        if duress_pin is not None:
            problem = pin_weakness(duress_pin, min_length)
            if problem:
                raise InputError(f"guard {guard_id}: duress PIN {problem}")
            if hmac.compare_digest(duress_pin, pin):
                raise InputError(f"guard {guard_id}: duress PIN must differ from the PIN")
        existing = {g.guard_id: g for g in self.list()}.get(guard_id)
        if existing is not None and not replace:
            raise GuardExists(f"guard {guard_id} exists already"
                              f"{' (with a duress PIN)' if existing.has_duress else ''}; "
                              "give --replace to set new PINs")
        if existing is not None and existing.has_duress and duress_pin is None and not drop_duress:
            raise InputError(f"guard {guard_id} has a duress PIN: give --duress with a new one "
                             "(second line of stdin), or --no-duress to remove it")
        # Every PIN must identify one guard: an override is accountable only if it is unambiguous.
        for candidate, what in ((pin, "PIN"), (duress_pin, "duress PIN")):
            if candidate is not None:
                owner = self._match(candidate, exclude=guard_id)
                if owner is not None:
                    raise InputError(f"guard {guard_id}: {what} is already in use by another "
                                     f"guard; choose another")
        salt, digest = _new_hash(pin)
        d_salt, d_digest = _new_hash(duress_pin) if duress_pin is not None else (None, None)
        self._execute(
            "INSERT INTO guards (guard_id, pin_salt, pin_hash, duress_salt, duress_hash, kdf_n,"
            " kdf_r, kdf_p) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(guard_id) DO UPDATE SET"
            " pin_salt=excluded.pin_salt, pin_hash=excluded.pin_hash,"
            " duress_salt=excluded.duress_salt, duress_hash=excluded.duress_hash,"
            " kdf_n=excluded.kdf_n, kdf_r=excluded.kdf_r, kdf_p=excluded.kdf_p,"
            " updated_at=strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (guard_id, salt, digest, d_salt, d_digest, SCRYPT_N, SCRYPT_R, SCRYPT_P))

    def remove(self, guard_id: str) -> bool:
        """Forget a guard. Returns False if there was no such guard."""
        return self._execute("DELETE FROM guards WHERE guard_id = ?", (guard_id,)) > 0

    def list(self) -> list[GuardInfo]:
        rows = self._query("SELECT guard_id, duress_hash IS NOT NULL, updated_at FROM guards"
                           " ORDER BY guard_id")
        return [GuardInfo(g, bool(d), u) for g, d, u in rows]

    def verify(self, pin: str) -> tuple[str, bool] | None:
        """(guard_id, duress) if `pin` is a guard's PIN or duress PIN, else None."""
        return self._match(pin)

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> "GuardStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --

    def _match(self, pin: str, exclude: str | None = None) -> tuple[str, bool] | None:
        if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() \
                or len(pin) > MAX_PIN_LENGTH:
            return None  # cannot be a stored PIN; format is no secret
        rows = self._query("SELECT guard_id, pin_salt, pin_hash, duress_salt, duress_hash,"
                           " kdf_n, kdf_r, kdf_p FROM guards")
        found = None
        for guard_id, salt, digest, d_salt, d_digest, n, r, p in rows:
            # no early exit: the time taken must not depend on which row matched
            hit = hmac.compare_digest(_hash(pin, salt, n, r, p), digest)
            d_hit = d_salt is not None and hmac.compare_digest(_hash(pin, d_salt, n, r, p), d_digest)
            if (hit or d_hit) and found is None and guard_id != exclude:
                found = (guard_id, bool(d_hit and not hit))
        return found

    def _execute(self, sql: str, params: tuple = ()) -> int:
        return self._run(sql, params, fetch=False)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._run(sql, params, fetch=True)

    def _run(self, sql: str, params: tuple, fetch: bool):
        with self._lock:
            if self._db is None:
                raise StorageError(f"guard store {self.path}: closed")
            try:
                cur = self._db.execute(sql, params)
                return cur.fetchall() if fetch else cur.rowcount
            except sqlite3.Error as exc:
                raise StorageError(f"guard store {self.path}: {exc}") from exc
