"""A damaged journal.db (fault-injection 6, 6b, 6c; security F14), on real SQLite files we damage:
the seq never repeats or goes backwards, the damaged file is kept for forensics, lockdown survives,
and the check the daemon runs at open is the one `gatectl doctor` runs (inspect_journal)."""
from __future__ import annotations

import os
import shutil
import struct
from datetime import timedelta
from pathlib import Path

import pytest

from gate.core.errors import StorageError
from gate.store.integrity import damaged_copies, inspect_journal
from gate.store.journal import Journal
from gate.store.seqmark import SLOT, Lockdown, SeqMark, mark_path, read_mark


def history(path: Path, clock, n: int = 2000) -> int:
    """A journal of `n` records, closed cleanly (the mark then covers every seq)."""
    with Journal(path, "g1", clock=clock) as j:
        for start in range(0, n, 500):
            j.append_many([("exit_request", {"i": i, "pad": "x" * 40}) for i in range(start, min(n, start + 500))])
        return j.last_seq


def overwrite_middle(db: Path) -> None:
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(os.urandom(4096))


def overwrite_header(db: Path) -> None:
    with open(db, "r+b") as f:
        f.write(os.urandom(100))


DAMAGE = {
    "page_overwritten": (overwrite_middle, {"corrupt", "unreadable"}),
    "header_overwritten": (overwrite_header, {"unreadable"}),
    "truncated_to_half": (lambda db: os.truncate(db, db.stat().st_size // 2), {"corrupt", "unreadable"}),
    "zero_length": (lambda db: os.truncate(db, 0), {"empty"}),
    "deleted": (lambda db: db.unlink(), {"missing"}),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_journal_is_set_aside_and_seqs_continue_above_the_mark(tmp_path, fake_clock, name):
    db = tmp_path / "journal.db"
    last = history(db, fake_clock)
    damage_fn, kinds = DAMAGE[name]
    damage_fn(db)
    # The doctor's check (read-only, creates nothing) and a CLI open both see it...
    found = inspect_journal(db, read_mark(mark_path(db)).seq)
    assert found is not None and found.kind in kinds and found.mark == last
    with pytest.raises(StorageError, match=f"journal {found.kind.replace('_', ' ')}.*continues above seq {last}"):
        Journal(db, "g1", clock=fake_clock)
    assert db.exists() == (name != "deleted")  # the refusing open created nothing, moved nothing
    # ...and the daemon's open keeps going: a fresh journal above the mark, the old file kept.
    with Journal(db, "g1", clock=fake_clock, recover=True) as j:
        assert j.recovery is not None and j.recovery.damage.kind in kinds
        assert j.append("daemon_started").seq == last + 1
    if name != "deleted":
        kept = damaged_copies(tmp_path)
        assert [p.name for p in kept] == ["journal.db.damaged-20261129T100000Z"]
        assert j.recovery.kept_as == kept[0] and kept[0].exists()
    assert inspect_journal(db, read_mark(mark_path(db)).seq) is None  # the fresh journal passes
    with Journal(db, "g1", clock=fake_clock) as j:  # and a plain (CLI) open accepts it again
        assert j.append("exit_request").seq == last + 2


def wal_frames(wal: Path) -> list[tuple[int, int]]:
    """(offset, commit-size) of each valid-salt frame of a WAL file (header layout: sqlite.org/fileformat)."""
    data = wal.read_bytes()
    _magic, _ver, psize, _ckpt, salt1, salt2 = struct.unpack(">IIIIII", data[:24])
    frames, off = [], 32
    while off + 24 + psize <= len(data):
        _pno, dbsize, s1, s2 = struct.unpack(">IIII", data[off:off + 16])
        if (s1, s2) != (salt1, salt2):
            break
        frames.append((off, dbsize))
        off += 24 + psize
    return frames


def test_a_corrupt_wal_frame_after_a_crash_never_reissues_a_published_seq(tmp_path, fake_clock):
    """exp6b: one bad frame rolled 42 records back to 19; seqs 20-25 were re-issued with new ids."""
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    live.mkdir()
    j = Journal(live / "journal.db", "g1", clock=fake_clock)
    for i in range(42):
        rec = j.append("exit_request", {"i": i})
        j.ensure_durable(rec.seq)  # what the uplink does before it publishes each record
    # A SIGKILL, as far as the files are concerned: copy them while the connection is still open.
    shutil.copytree(live, crashed)
    j.close()
    wal = crashed / "journal.db-wal"
    commits = [off for off, size in wal_frames(wal) if size]
    assert len(commits) >= 40
    with open(wal, "r+b") as f:  # inside the page image of a commit frame in the middle
        f.seek(commits[len(commits) // 2] + 24 + 100)
        f.write(b"\xff" * 16)
    db = crashed / "journal.db"
    found = inspect_journal(db, read_mark(mark_path(db)).seq)
    assert found is not None and found.kind == "rolled_back" and found.mark == 42 and found.last_seq < 42
    with Journal(db, "g1", clock=fake_clock, recover=True) as j:
        assert j.recovery.damage.kind == "rolled_back"
        kept = j.recovery.kept_as
        assert kept is not None and kept.name.endswith("-wal") and kept.stat().st_size == wal.stat().st_size
        kept_records = j.count()
        assert 0 < kept_records < 42  # the sound part stays (it may hold undelivered records)
        assert j.append("daemon_started").seq == 43
    assert inspect_journal(db, read_mark(mark_path(db)).seq) is None


def test_lockdown_survives_a_journal_reset(tmp_path, fake_clock):
    """exp6c: lockdown on, journal truncated to 0: the restart came up in mode normal."""
    db = tmp_path / "journal.db"
    with Journal(db, "g1", clock=fake_clock) as j:
        seq = j.append("lockdown", {"on": True, "by": "station"}).seq
    os.truncate(db, 0)
    with Journal(db, "g1", clock=fake_clock, recover=True) as j:
        assert j.lockdown_state() == Lockdown(True, seq, "station")
        j.append("lockdown", {"on": False, "by": "guard"})
        assert j.lockdown_state().on is False


def test_lockdown_does_not_depend_on_retention_keeping_its_record(tmp_path, fake_clock):
    """Security review F14 (r16): a count prune or a 366-day-old lockdown lifted it at the next restart."""
    db = tmp_path / "journal.db"
    with Journal(db, "g1", clock=fake_clock) as j:
        j.append("lockdown", {"on": True, "by": "guard:zhang"})
        j.append_many([("access_refused", {"card": f"{i:08X}", "reason": "lockdown"}) for i in range(1200)])
        j.mark_delivered([r.seq for r in j.records()])
        fake_clock.advance(timedelta(days=366).total_seconds())
        j.prune(retention_days=90, security_retention_days=365, max_records=1000)
        assert j.records(record_type="lockdown") == []
    with Journal(db, "g1", clock=fake_clock) as j:
        assert j.lockdown_state() == Lockdown(True, 1, "guard:zhang")


class FullJournal(Journal):
    def _append_many(self, items):
        raise StorageError(f"{self.path}: cannot write journal: database or disk is full")


def test_a_lockdown_the_journal_refuses_still_reaches_journal_state(tmp_path, fake_clock):
    """F14: a lockdown ordered while the journal is failing was held only in memory."""
    db = tmp_path / "journal.db"
    with FullJournal(db, "g1", clock=fake_clock) as j:
        with pytest.raises(StorageError):
            j.append("lockdown", {"on": True, "by": "station"})
        assert j.lockdown_state() == Lockdown(True, None, "station")
    assert read_mark(mark_path(db)).lockdown == Lockdown(True, None, "station")


def test_the_mark_survives_a_torn_slot_and_never_goes_down(tmp_path):
    path = tmp_path / "journal.state"
    mark = SeqMark(path)
    mark.advance(10)
    mark.advance(20)
    mark.advance(15)  # never lowers
    assert mark.seq == 20
    mark.close()
    raw = bytearray(path.read_bytes())
    newest = 0 if read_mark(path).gen % 2 == 1 else 1  # gen 1 is in slot 0; updates alternate
    raw[newest * SLOT + 20] ^= 0xFF  # tear the newest slot
    path.write_bytes(bytes(raw))
    again = SeqMark(path)
    assert again.seq == 10 and not again.damaged  # the older slot holds the previous value
    path.write_bytes(b"\0" * 2 * SLOT)
    lost = SeqMark(path)
    assert lost.damaged and lost.seq == 0


def test_undelivered_records_of_a_corrupt_journal_are_salvaged_with_their_seq_and_id(tmp_path, fake_clock):
    db = tmp_path / "journal.db"
    with Journal(db, "g1", clock=fake_clock) as j:
        j.append_many([("exit_request", {"i": i, "pad": "x" * 40}) for i in range(2000)])
        j.mark_delivered(list(range(1, 1001)))  # the station has the first half
        before = {r.seq: r.id for r in j.undelivered(limit=5000)}
    overwrite_middle(db)
    with Journal(db, "g1", clock=fake_clock, recover=True) as j:
        assert j.recovery.damage.kind in ("corrupt", "unreadable")
        got = {r.seq: r.id for r in j.undelivered(limit=5000)}
        assert 0 < j.recovery.salvaged == len(got) and "undelivered record(s) read" in j.recovery.describe()
        assert all(before[s] == rid for s, rid in got.items())  # the same records, not new ones
        assert len(got) >= 900  # only what sat on the overwritten page is gone
        assert j.append("daemon_started").seq == 2001
