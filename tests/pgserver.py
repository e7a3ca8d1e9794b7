"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, one throw-away cluster per
test session (`initdb` + `pg_ctl` in a temp dir, a free port on 127.0.0.1, its socket in that dir),
one fresh database per test. PostgreSQL refuses to run as root, so the cluster belongs to `postgres`.
Skips with the reason when the binaries (or a way to become `postgres`) are missing."""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from broker import free_port


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One cluster: `start()` runs initdb and pg_ctl start, `url(db)` names a database, `stop()`."""

    def __init__(self, bindir: Path, user: str = "postgres"):
        self.bindir, self.user = bindir, user
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gate-pg-"))
        self.data = self.dir / "data"
        self._names = itertools.count(1)

    def _run(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = list(argv) if os.geteuid() != 0 else ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        # fsync off: a test cluster needs no durability, and the disk is shared by everyone's tests.
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c max_connections=200", "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():  # started (a failed start leaves nothing to stop)
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL cluster (skips when Debian's postgresql or psycopg is missing)."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install -e '.[test]')")
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries missing: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        if os.geteuid() == 0:
            pytest.skip("no postgres user to run PostgreSQL as (PostgreSQL refuses to run as root)")
    server = PostgresServer(bindir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = (server.dir / "log").read_text(errors="replace")[-2000:] if (server.dir / "log").exists() else ""
        server.stop()
        pytest.fail(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{log}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a fresh database on the session's cluster."""
    return pg_server.create_database()
