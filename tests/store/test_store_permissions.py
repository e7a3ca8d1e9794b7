"""F17: stores created outside systemd (no UMask=) are private: folder 0700, database files 0600."""
from __future__ import annotations

import os
import stat

from gate.store.guards import GuardStore
from gate.store.journal import Journal
from gate.store.passes import PassStore


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_new_stores_are_private_even_with_a_permissive_umask(tmp_path):
    before = os.umask(0o022)  # a shell's usual umask: files 0644, folders 0755
    try:
        storage = tmp_path / "var-lib-gate"
        storage.mkdir(mode=0o700)
        with GuardStore(storage / "registry.db") as guards:  # the guard CLI may create the registry first
            guards.add("guard-chen", "246802")
        with PassStore(storage / "registry.db"), Journal(storage / "sub" / "journal.db", "g1") as journal:
            journal.append("test", {})
    finally:
        os.umask(before)
    assert mode(storage / "sub") == 0o700  # a folder the store makes itself
    for name in ("registry.db", "sub/journal.db", "sub/journal.db-wal", "registry.db-wal"):
        if (storage / name).exists():
            assert mode(storage / name) == 0o600, name
