"""The gate's registry receiver in-process (no broker): what it applies and what it refuses."""
from __future__ import annotations

import json
import threading

import pytest

from gate.core.registry import (build_manifest, chunk_bodies, chunk_topic, content_hash, manifest_topic,
                                sign_manifest)
from gate.store.registry_replica import RegistryReplica
from gate.uplink.registry_sync import RegistrySync

KEY = b"gate-secret-0123456789abcdef0123456789"


class Journal(list):
    def __init__(self):
        super().__init__()
        self.changed = threading.Condition()

    def __call__(self, kind, fields):
        with self.changed:
            self.append((kind, fields))
            self.changed.notify_all()

    def wait(self, kind, n=1):
        with self.changed:
            assert self.changed.wait_for(lambda: sum(k == kind for k, _ in self) >= n, 5), (kind, list(self))
        return [f for k, f in self if k == kind]


@pytest.fixture
def sync(tmp_path):
    journal = Journal()
    s = RegistrySync("north", "compound", RegistryReplica(tmp_path / "registry.db"), key=lambda: KEY,
                     journal=journal).start()
    s.journal = journal
    yield s
    s.close()


def send(s: RegistrySync, version: int, rows: list, *, digest: str | None = None, key: bytes = KEY,
         chunk: bytes | None = None) -> None:
    bodies = chunk_bodies(rows)
    m = sign_manifest(build_manifest("c", "north", version, digest or content_hash(rows), len(rows), bodies,
                                     "2026-12-01T00:00:00Z"), key)
    s.offer(chunk_topic("compound", "north", version, 0), chunk or bodies[0], True)
    s.offer(manifest_topic("compound", "north"), json.dumps(m).encode(), True)


ROW_A = ["AAAAAAAA", "A", None, "resident", None, None, False]
ROW_B = ["BBBBBBBB", "B", None, "resident", None, None, False]


def test_a_newer_version_is_applied_and_reported(sync):
    send(sync, 2, [ROW_A, ROW_B])
    assert sync.journal.wait("registry_applied")[0]["version"] == 2
    assert sync.status_fields() == {"registry_version": 2, "registry_hash": content_hash([ROW_A, ROW_B]),
                                    "registry_compound": "c"}
    send(sync, 2, [ROW_A, ROW_B])            # every reconnect delivers the retained version again
    send(sync, 3, [ROW_A])
    assert sync.journal.wait("registry_applied", 2)[1]["version"] == 3
    assert not [k for k, _ in sync.journal if k == "registry_rejected"]


@pytest.mark.parametrize("case, reason", [
    ("older", "stale"), ("same number, other content", "conflict"), ("wrong key", "bad_signature"),
    ("rows out of order", "malformed"), ("hash of other rows", "bad_hash"), ("chunk swapped", "bad_chunk"),
])
def test_a_bad_version_is_refused_alarmed_and_changes_nothing(sync, case, reason):
    send(sync, 5, [ROW_A])
    sync.journal.wait("registry_applied")
    if case == "older":
        send(sync, 4, [ROW_B])
    elif case == "same number, other content":
        send(sync, 5, [ROW_B])
    elif case == "wrong key":
        send(sync, 6, [ROW_B], key=b"another-key-0123456789abcdef0123456789")
    elif case == "rows out of order":
        send(sync, 6, [ROW_B, ROW_A])
    elif case == "hash of other rows":
        send(sync, 6, [ROW_B], digest=content_hash([ROW_A]))
    else:
        send(sync, 6, [ROW_B], chunk=json.dumps([ROW_A]).encode())
    assert sync.journal.wait("registry_rejected")[0]["reason"] == reason
    assert any(f.get("device") == "registry" for f in sync.journal.wait("device_fault"))
    assert sync.status_fields()["registry_version"] == 5
    assert sync.replica.held()["version"] == 5
