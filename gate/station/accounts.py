"""Officer accounts and web sessions (in the station's store file).

Passwords: hashlib.scrypt (n=2**14, r=8, p=1, 16-byte salt), compared in constant time. Sessions: a
random 32-byte token in the cookie; the store keeps only its SHA-256, so a copy of the database does
not log anyone in. Each session carries its own CSRF token, which every state-changing request must
echo in the `X-CSRF-Token` header.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from gate.clock import Clock, SystemClock
from gate.core.errors import InputError
from gate.core.timefmt import format_ts, parse_ts
from gate.station.dbfile import StationDb

ROLES = ("officer", "supervisor", "guard")
LANGUAGES = ("en", "zh-CN")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
MAX_NAME = 64


@dataclass(frozen=True)
class Officer:
    name: str
    role: str
    compound: str = ""  # guards only: the compound they may see
    language: str = "en"

    @property
    def is_guard(self) -> bool:
        return self.role == "guard"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


@dataclass(frozen=True)
class Session:
    officer: Officer
    csrf: str
    expires_at: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salthex$hashhex`."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=_SCRYPT["maxmem"], dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password("not a password")


class Accounts(StationDb):
    """Officers and their sessions."""

    WHAT = "officer accounts"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS officers (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, compound TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT 'en', password TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY, officer TEXT NOT NULL, csrf TEXT NOT NULL,
        created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
    """

    def __init__(self, path, *, clock: Clock | None = None, session_hours: float = 12.0):
        super().__init__(path)
        self._clock = clock or SystemClock()
        self._lifetime = timedelta(hours=session_hours)

    def add_officer(self, name: str, password: str, *, role: str = "officer", compound: str = "",
                    language: str = "en") -> Officer:
        """Create or replace an account (a new password logs out its sessions). InputError naming the field."""
        name = name.strip()
        if not 0 < len(name) <= MAX_NAME or any(ord(c) < 32 for c in name):
            raise InputError(f"NAME: 1-{MAX_NAME} printable characters, got {name!r}")
        if role not in ROLES:
            raise InputError(f"--role: one of {', '.join(ROLES)}, got {role!r}")
        if role == "guard" and not compound:
            raise InputError("--compound: a guard account is scoped to one compound; name it")
        if language not in LANGUAGES:
            raise InputError(f"--language: one of {', '.join(LANGUAGES)}, got {language!r}")
        if len(password) < 8:
            raise InputError("password: at least 8 characters (read from the first line of stdin)")
        hashed = hash_password(password)
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO officers VALUES (?,?,?,?,?,?)",
                       (name, role, compound, language, hashed, format_ts(self._clock.wall())))
            db.execute("DELETE FROM sessions WHERE officer=?", (name,))
        return Officer(name, role, compound, language)

    def officer(self, name: str) -> Officer | None:
        rows = self.query("SELECT name, role, compound, language FROM officers WHERE name=?", (name,))
        return Officer(*rows[0]) if rows else None

    def officers(self) -> list[Officer]:
        return [Officer(*r) for r in self.query("SELECT name, role, compound, language FROM officers ORDER BY name")]

    def set_language(self, name: str, language: str) -> None:
        if language not in LANGUAGES:
            raise InputError(f"language: one of {', '.join(LANGUAGES)}, got {language!r}")
        with self.transaction() as db:
            db.execute("UPDATE officers SET language=? WHERE name=?", (language, name))

    def authenticate(self, name: str, password: str) -> Officer | None:
        rows = self.query("SELECT password FROM officers WHERE name=?", (name,))
        ok = check_password(password, rows[0][0] if rows else _DUMMY_HASH)
        return self.officer(name) if ok and rows else None

    # -- sessions --------------------------------------------------------------------------------
    def open_session(self, officer: Officer) -> tuple[str, Session]:
        """A new session; returns (the cookie token, the session). The token is not stored."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.wall()
        expires = format_ts(now + self._lifetime)
        with self.transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (format_ts(now),))
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                       (_digest(token), officer.name, csrf, format_ts(now), expires))
        return token, Session(officer, csrf, expires)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None (unknown, expired, or its officer removed)."""
        if not token or len(token) > 200:
            return None
        rows = self.query("SELECT officer, csrf, expires_at FROM sessions WHERE token_hash=?", (_digest(token),))
        if not rows:
            return None
        name, csrf, expires = rows[0]
        if parse_ts(expires) <= self._clock.wall():
            self.close_session(token)
            return None
        officer = self.officer(name)
        return Session(officer, csrf, expires) if officer else None

    def close_session(self, token: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM sessions WHERE token_hash=?", (_digest(token),))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
