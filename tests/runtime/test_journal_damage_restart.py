"""The real daemon (`gatectl run` subprocess) restarting on a damaged journal (fault-injection 6, 6b,
6c): it starts and keeps deciding, sets the damaged file aside, raises device_fault device=journal,
keeps the lockdown, and the station never sees one seq with two ids."""
from __future__ import annotations

import os
import sqlite3
import struct

import pytest

from gatefixture import GateProcess, StationClient, wait_for


def seq_ids(station: StationClient) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = {}
    for rec in station.records():
        seen.setdefault(rec["seq"], set()).add(rec["id"])
    return seen


def exits(gate: GateProcess, n: int) -> None:
    for _ in range(n):
        gate.sim("exit")


def overwrite_page(db) -> None:
    conn = sqlite3.connect(db)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:  # a b-tree page of the records table, not the header
        f.seek((pages // 2) * 4096)
        f.write(os.urandom(4096))


@pytest.fixture
def gate(broker, tmp_path):
    """A GateProcess stopped at the end whatever happened (a start that timed out included)."""
    process = GateProcess(tmp_path, port=broker.port)
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("damage", ["page_overwritten", "zero_length", "deleted"])
def test_restart_on_a_damaged_journal_keeps_deciding_above_the_old_seqs(broker, gate, damage):
    with StationClient(broker.port) as station:
        with gate.start(ready=lambda: gate.sim_ready() and station.on("status")):
            station.send(station.command("lockdown", on=True))
            wait_for(lambda: gate.sim("state")["mode"] == "lockdown", 5, "lockdown")
            exits(gate, 150 if damage == "page_overwritten" else 8)  # pages enough to damage one
            last = wait_for(lambda: gate.last_seq() > 8 and station.has_seqs(1, gate.last_seq()) and gate.last_seq(),
                            15, "history delivered")
        db = gate.storage / "journal.db"
        {"page_overwritten": overwrite_page, "zero_length": lambda p: os.truncate(p, 0),
         "deleted": os.unlink}[damage](db)
        with gate.start(ready=lambda: gate.sim_ready() and gate.records_of("device_fault")):
            fault = gate.records_of("device_fault")[0]
            assert fault["device"] == "journal" and "journal" in fault["detail"]
            assert gate.sim("state")["mode"] == "lockdown"  # exp6c: the reset lifted it
            assert gate.records_of("lockdown_restored")
            rows = gate.journal_rows("SELECT MIN(seq) FROM records")
            assert rows[0][0] > last + 1  # daemon_stopped (last + 1) went with the old file
            gate.sim("exit")  # still deciding: the exit button releases the lock
            wait_for(lambda: gate.records_of("exit_request"), 5, "exit journaled")
            wait_for(lambda: max(station.seqs()) == gate.last_seq(), 10, "new records delivered")
        assert all(len(ids) == 1 for ids in seq_ids(station).values())  # no seq re-issued
        kept = sorted(p.name for p in gate.storage.iterdir() if ".damaged-" in p.name)
        assert bool(kept) == (damage != "deleted")
        assert "journal.db.damaged-" in gate.log_text() or damage == "deleted"


def wal_commit_frames(wal) -> list[int]:
    data = wal.read_bytes()
    psize, salt = struct.unpack(">I", data[8:12])[0], data[16:24]
    out, off = [], 32
    while off + 24 + psize <= len(data) and data[off + 8:off + 16] == salt:
        if struct.unpack(">I", data[off + 4:off + 8])[0]:
            out.append(off)
        off += 24 + psize
    return out


def test_a_corrupt_wal_frame_after_sigkill_reissues_no_seq(broker, gate):
    """exp6b: 42 records delivered, SIGKILL, one WAL frame flipped: 19 left and seqs 20-25 re-issued."""
    with StationClient(broker.port) as station:
        gate.start(ready=lambda: gate.sim_ready() and station.on("status"))
        exits(gate, 20)
        last = wait_for(lambda: gate.last_seq() > 20 and station.has_seqs(1, gate.last_seq())
                        and gate.journal_rows("SELECT COUNT(*) FROM records WHERE delivered = 0")[0][0] == 0
                        and gate.last_seq(), 15, "all delivered")
        gate.kill()
        wal = gate.storage / "journal.db-wal"
        frames = wal_commit_frames(wal)
        assert len(frames) > 10
        with open(wal, "r+b") as f:
            f.seek(frames[len(frames) // 2] + 24 + 100)
            f.write(b"\xff" * 16)
        with gate.start(ready=lambda: gate.sim_ready() and gate.records_of("device_fault")):
            assert "rolled back" in gate.records_of("device_fault")[0]["detail"]
            exits(gate, 5)
            wait_for(lambda: max(station.seqs()) == gate.last_seq(), 10, "new records delivered")
            assert gate.journal_rows("SELECT MIN(seq) FROM records WHERE type = 'daemon_started' AND seq > ?",
                                     (1,))[0][0] > last
        assert all(len(ids) == 1 for ids in seq_ids(station).values())
        assert any(p.name.endswith("-wal") and ".damaged-" in p.name for p in gate.storage.iterdir())
