"""The journal's durable high-water mark and mode, kept OUTSIDE journal.db (in journal.state beside it).

Whatever happens to journal.db (a corrupt page, a 0-byte or deleted file, a WAL frame that makes SQLite
roll back committed records), this small file still says the highest seq that ever left the journal
(published, shown in a status, or closed cleanly) and whether a lockdown is on. The journal starts its
counter above it, so a seq never repeats or goes backwards; the daemon restores lockdown from it, so a
lockdown never depends on retention keeping its record.

Two numbers: `seq`, the highest seq that left the gate (exact: a journal ending below it lost records),
and `reserved`, a ceiling raised in blocks of RESERVE_BLOCK *before* a commit uses a seq above it (so
no seq ever committed, even one only a local log showed, lies above it); after damage the journal
continues above `reserved`.

Layout: two fixed 512-byte slots, each `crc32 | length | JSON {gen, seq, reserved, lockdown}` padded.
An update reads both slots, writes the next generation into the older slot in place and fdatasyncs it:
a torn write spoils only that slot and the other still holds the previous value; in-place writes to
blocks the file already owns need no free space, so the mark and the mode still move on a full disk.
The file is created whole (written, fsynced, renamed into place, directory fsynced). Updates hold an
exclusive flock and never lower `seq` (another process, e.g. `gatectl doctor --actuate`, may write too).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.core.errors import StorageError
from gate.store.atomic import write_atomically

log = logging.getLogger("gate.journal")

SLOT = 512
RESERVE_BLOCK = 1000  # seqs reserved per write of the ceiling: one fdatasync per 1,000 records
_HEADER = 8  # crc32 (4 bytes) + payload length (4 bytes), big-endian


@dataclass(frozen=True)
class Lockdown:
    """The persisted mode: on/off, the seq of the `lockdown` record (None while it is held in memory)."""

    on: bool
    seq: int | None = None
    by: str = ""


@dataclass(frozen=True)
class MarkState:
    gen: int = 0
    seq: int = 0
    lockdown: Lockdown | None = None
    reserved: int = 0  # >= every seq a commit has used (see the module docstring)


def _encode(state: MarkState) -> bytes:
    body: dict[str, Any] = {"gen": state.gen, "seq": state.seq, "reserved": state.reserved}
    if state.lockdown is not None:
        body["lockdown"] = {"on": state.lockdown.on, "seq": state.lockdown.seq, "by": state.lockdown.by}
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > SLOT - _HEADER:
        raise ValueError("journal state does not fit its slot")
    head = zlib.crc32(data).to_bytes(4, "big") + len(data).to_bytes(4, "big")
    return (head + data).ljust(SLOT, b"\0")


def _decode(raw: bytes) -> MarkState | None:
    """A slot's state, or None when it is empty, torn or not ours."""
    if len(raw) < _HEADER:
        return None
    crc, size = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big")
    data = raw[_HEADER:_HEADER + size]
    if size == 0 or len(data) != size or zlib.crc32(data) != crc:
        return None
    try:
        body = json.loads(data)
        ld = body.get("lockdown")
        lockdown = None if ld is None else Lockdown(bool(ld["on"]), None if ld.get("seq") is None else int(ld["seq"]),
                                                   str(ld.get("by", "")))
        seq = int(body["seq"])
        return MarkState(int(body["gen"]), seq, lockdown, max(seq, int(body.get("reserved", seq))))
    except (ValueError, KeyError, TypeError):
        return None


class SeqMark:
    """journal.state: read at start (`state`), advanced with `advance(seq)`, the mode set with
    `set_lockdown(...)`. Thread-safe; safe across processes (flock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.damaged = False  # both slots unreadable: the mark was lost (journal.db is the floor then)
        try:
            if not self.path.exists():
                self._create()
            self._fd = os.open(self.path, os.O_RDWR)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot open the journal's high-water mark: {exc}") from exc
        self.state = self._read_locked()

    def _create(self) -> None:
        write_atomically(self.path, _encode(MarkState(1, 0)) + b"\0" * SLOT, mode=0o640)

    def _slots(self) -> tuple[MarkState | None, MarkState | None]:
        raw = os.pread(self._fd, 2 * SLOT, 0)
        return _decode(raw[:SLOT]), _decode(raw[SLOT:2 * SLOT])

    def _read_locked(self) -> MarkState:
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            a, b = self._slots()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        valid = [s for s in (a, b) if s is not None]
        if not valid:
            self.damaged = True
            log.critical("%s: both slots unreadable; the high-water mark is lost (journal.db decides)", self.path)
            return MarkState()
        return max(valid, key=lambda s: s.gen)

    @property
    def seq(self) -> int:
        return self.state.seq

    @property
    def lockdown(self) -> Lockdown | None:
        return self.state.lockdown

    @property
    def reserved(self) -> int:
        return self.state.reserved

    def reserve(self, seq: int) -> None:
        """Before a commit uses `seq`: raise the ceiling to `seq` + RESERVE_BLOCK when `seq` is above it."""
        if seq > self.state.reserved:
            self._update(reserve=seq + RESERVE_BLOCK)

    def advance(self, seq: int) -> None:
        """Raise the mark to `seq` (never lowers it); one fdatasync when it moves."""
        if seq <= self.state.seq:
            return
        self._update(seq=seq)

    def set_lockdown(self, lockdown: Lockdown, seq: int = 0) -> None:
        self._update(seq=seq, lockdown=lockdown, set_mode=True)

    def _update(self, *, seq: int = 0, reserve: int = 0, lockdown: Lockdown | None = None,
                set_mode: bool = False) -> None:
        with self._lock:
            if self._fd < 0:
                raise StorageError(f"{self.path}: closed")
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    a, b = self._slots()
                    current = max([s for s in (a, b) if s is not None] or [self.state], key=lambda s: s.gen)
                    top = max(current.seq, self.state.seq, seq)
                    new = MarkState(current.gen + 1, top, lockdown if set_mode else current.lockdown,
                                    max(top, current.reserved, self.state.reserved, reserve))
                    # The older (or unreadable) slot takes the new generation.
                    slot = 0 if a is None else 1 if b is None else (0 if a.gen < b.gen else 1)
                    os.pwrite(self._fd, _encode(new), slot * SLOT)
                    os.fdatasync(self._fd)
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError as exc:
                raise StorageError(f"{self.path}: cannot write the high-water mark: {exc}") from exc
            self.state = new

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_mark(path: str | Path) -> MarkState:
    """The state in a journal.state file without creating or locking it for writing (doctor); an
    absent or unreadable file reads as the empty state."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return MarkState()
    valid = [s for s in (_decode(raw[:SLOT]), _decode(raw[SLOT:2 * SLOT])) if s is not None]
    return max(valid, key=lambda s: s.gen) if valid else MarkState()


def mark_path(journal_path: str | Path) -> Path:
    """journal.db -> journal.state (beside it, outside anything that damages or replaces journal.db)."""
    return Path(journal_path).with_suffix(".state")
