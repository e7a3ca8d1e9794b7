"""One gate daemon per storage dir: an exclusive `fcntl.flock` on `storage.dir/daemon.lock`.

Two daemons on one config knock each other off the broker (same client id), write into one journal
and delete each other's control socket. The lock is held for the life of the process (the kernel
drops it when the process dies, however it dies), so a stale lock file never blocks a restart.
CLI writes (`passes add` …) do not take it: SQLite serialises them with the daemon.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gate.core.errors import InputError

LOCK_NAME = "daemon.lock"


class DaemonAlreadyRunning(InputError):
    """Another daemon holds the storage dir's lock (exit 2)."""


class DaemonLock:
    """The storage dir's daemon lock. `acquire()` raises DaemonAlreadyRunning naming the holder."""

    def __init__(self, storage_dir: Path):
        self.path = Path(storage_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "DaemonLock":
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonAlreadyRunning(
                f"another gate daemon (pid {holder}) runs on this storage dir ({self.path.parent}); "
                "stop it first (sim, passes and events work beside it)") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)          # closing the descriptor drops the lock; the file stays


_held: dict[Path, DaemonLock] = {}


def hold_for_process(storage_dir: Path) -> DaemonLock:
    """Take the lock for this process's life (demo takes it before its broker, run again: a no-op)."""
    key = Path(storage_dir).resolve()
    lock = _held.get(key)
    if lock is None:
        lock = DaemonLock(key).acquire()
        _held[key] = lock
    return lock
