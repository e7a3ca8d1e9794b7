"""The gate's end of the compound registry (docs/registry.md): retained, signed versions on
`P/G/registry` (manifest) and `P/G/registry/<version>/<i>` (chunks), applied all or nothing.

The network thread only queues payloads (bounded in bytes); one worker thread verifies and applies,
so a 100,000-pass version never holds up paho, the uplink worker, or the daemon's decisions (the
apply is one transaction on its own SQLite connection: decisions read the old list until the commit).

Refused, each journaled as `registry_rejected` (with `reason`, `detail`, `version`) and alarmed as
`device_fault` with `device: registry`: a manifest without a valid signature by this gate's key
(`bad_signature`), a malformed one (`malformed`), a version older than the one held (`stale`), the held
version number with other content (`conflict`), a chunk whose sha256 is not the manifest's
(`bad_chunk`), rows that do not hash to the manifest's hash (`bad_hash`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from typing import Any, Callable

from gate.core.errors import InputError, StorageError
from gate.core.registry import (MAX_CHUNK_BYTES, ContentHash, check_manifest, manifest_signed, manifest_topic,
                                parse_chunk)
from gate.store.registry_replica import RegistryReplica
from gate.uplink.command_gate import RejectionLimiter

log = logging.getLogger("gate.uplink.registry")

MAX_MANIFEST_BYTES = 64 * 1024
MAX_BUFFERED_BYTES = 96 * 1024 * 1024   # chunks waiting for their manifest (a 500,000-pass version fits)


class RegistrySync:
    """Receives and applies registry versions. `journal(type, fields)` records outcomes (the daemon's
    main loop: an alarm enters its alarm book); `on_applied()` asks for a fresh status."""

    def __init__(self, gate_id: str, topic_prefix: str, replica: RegistryReplica, *,
                 key: Callable[[], bytes | None], journal: Callable[[str, dict[str, Any]], None],
                 on_applied: Callable[[], None] = lambda: None):
        self.gate_id = gate_id
        self.topic = manifest_topic(topic_prefix, gate_id)
        self.replica, self._key, self._journal, self._on_applied = replica, key, journal, on_applied
        self._queue: queue.Queue = queue.Queue()
        self._queued_bytes = 0
        self._qlock = threading.Lock()
        self._held = replica.held()
        self._pending: dict[str, Any] | None = None
        self._chunks: dict[tuple[int, int], bytes] = {}
        self._limiter = RejectionLimiter(per_window=10, window_seconds=60.0)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.applied = threading.Event()   # set after each version applied (tests)

    # --- called by the uplink ---------------------------------------------------------------------
    def on_applied_hook(self, hook: Callable[[], None]) -> None:
        self._on_applied = hook

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return (self.topic, self.topic + "/#")

    def status_fields(self) -> dict[str, Any]:
        held = self._held
        if not held:
            return {}
        return {"registry_version": held["version"], "registry_hash": held["hash"],
                "registry_compound": held["compound"]}

    def offer(self, topic: str, payload: bytes, retained: bool) -> None:
        """Network thread: queue, bounded by bytes (a flood is dropped and logged, never buffered)."""
        size = len(payload)
        limit = MAX_MANIFEST_BYTES if topic == self.topic else MAX_CHUNK_BYTES
        with self._qlock:
            if size > limit or self._queued_bytes + size > MAX_BUFFERED_BYTES:
                log.warning("%s: %d bytes dropped (too large or too much queued)", topic, size)
                return
            self._queued_bytes += size
        self._queue.put((topic, payload))

    def start(self) -> "RegistrySync":
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="registry-sync", daemon=True)
            self._worker.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(10)
        self.replica.close()

    # --- the worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                continue
            topic, payload = item
            with self._qlock:
                self._queued_bytes -= len(payload)
            try:
                if topic == self.topic:
                    self._manifest(payload)
                else:
                    self._chunk(topic, payload)
                self._complete()
            except StorageError as exc:
                log.error("registry: cannot apply: %s", exc)
                self._reject("storage_error", str(exc), (self._pending or {}).get("version"))
                self._pending = None
            except Exception:   # the sync must outlive any single bad message
                log.exception("registry: unexpected error on %s", topic)

    def _manifest(self, payload: bytes) -> None:
        if not payload:
            return                               # retained message cleared
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):
            return self._reject("malformed", "manifest is not JSON", None)
        key = self._key()
        if key is None:
            log.error("registry: no command secret, cannot verify %s", self.topic)
            return
        if not isinstance(obj, dict) or not manifest_signed(obj, key):
            return self._reject("bad_signature", "manifest has no valid signature by this gate's key",
                                obj.get("version") if isinstance(obj, dict) else None)
        try:
            check_manifest(obj, self.gate_id)
        except InputError as exc:
            return self._reject("malformed", str(exc), obj.get("version"))
        held = self._held
        version = obj["version"]
        if held is not None and version < held["version"]:
            return self._reject("stale", f"version {version} is older than the held version {held['version']}",
                                version)
        if held is not None and version == held["version"]:
            if obj["hash"] != held["hash"]:
                self._reject("conflict", f"version {version} with another hash than the one held", version)
            return                               # already held: every reconnect sees it again
        if self._pending is None or version >= self._pending["version"]:
            self._pending = obj
            self._chunks = {k: v for k, v in self._chunks.items() if k[0] == version}

    def _chunk(self, topic: str, payload: bytes) -> None:
        parts = topic[len(self.topic) + 1:].split("/")
        if len(parts) != 2 or not all(p.isdigit() and len(p) < 12 for p in parts) or not payload:
            return
        version, index = int(parts[0]), int(parts[1])
        floor = max(self._held["version"] if self._held else 0,
                    self._pending["version"] - 1 if self._pending else 0)
        if version > floor:
            self._chunks[(version, index)] = payload
            if sum(map(len, self._chunks.values())) > MAX_BUFFERED_BYTES:   # keep the newest version only
                top = max(k[0] for k in self._chunks)
                self._chunks = {k: v for k, v in self._chunks.items() if k[0] == top}

    def _complete(self) -> None:
        m = self._pending
        if m is None:
            return
        version, expected = m["version"], m["chunks"]
        if not all((version, i) in self._chunks for i in range(len(expected))):
            return
        digest, rows, last = ContentHash(), [], ""
        try:
            for i, sha in enumerate(expected):
                body = self._chunks[(version, i)]
                if hashlib.sha256(body).hexdigest() != sha:
                    raise _Refused("bad_chunk", f"chunk {i} does not match the manifest's sha256")
                for row in parse_chunk(body, f"chunk {i}"):
                    if row[0] <= last:
                        raise _Refused("malformed", f"chunk {i}: card {row[0]} out of order or repeated")
                    last = row[0]
                    digest.add(row)
                    rows.append(row)
            if digest.count != m["count"] or digest.hexdigest() != m["hash"]:
                raise _Refused("bad_hash", f"the {digest.count} rows do not hash to the manifest's hash")
        except InputError as exc:
            return self._drop(version, _Refused("malformed", str(exc)))
        except _Refused as exc:
            return self._drop(version, exc)
        result = self.replica.apply(m["compound"], version, m["hash"], rows)
        self._held = {"compound": m["compound"], "version": version, "hash": m["hash"], "count": len(rows)}
        self._pending, self._chunks = None, {}
        log.info("registry: version %d applied (%s)", version, result)
        self._journal("registry_applied", {"version": version, "hash": m["hash"], "compound": m["compound"],
                                           **result})
        self._on_applied()
        self.applied.set()

    def _drop(self, version: int, exc: "_Refused") -> None:
        self._pending = None
        self._chunks = {k: v for k, v in self._chunks.items() if k[0] != version}
        self._reject(exc.reason, exc.detail, version)

    def _reject(self, reason: str, detail: str, version: Any) -> None:
        log.warning("registry: refused (%s): %s", reason, detail)
        if not self._limiter.admit(reason):
            return
        shown = version if isinstance(version, int) and not isinstance(version, bool) else None
        self._journal("registry_rejected", {"reason": reason, "detail": detail[:300], "version": shown})
        self._journal("device_fault", {"device": "registry", "detail": f"registry version refused: {reason}"})


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail
