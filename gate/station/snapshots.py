"""Video verification: when an alarm arrives from a gate with `snapshot_url`, fetch the camera's
still image at once and again a few seconds later, and keep the frames with the alarm.

The consumer's worker only enqueues (never waits on a camera); two fetch threads work a bounded
schedule, each fetch with a timeout and a size cap, so a camera that hangs, floods or answers garbage
never delays an alarm or grows memory. Auth (basic or digest, as IP cameras such as Hikvision's ISAPI
`/ISAPI/Streaming/channels/101/picture` ask) comes from `snapshot_auth_file`: `user:password` on its
first line.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from gate.core.timefmt import format_ts
from gate.clock import Clock, SystemClock
from gate.station.config import StationConfig
from gate.station.dbfile import StationDb

log = logging.getLogger("gate.station.snapshots")

MAX_BYTES = 5 * 1024 * 1024
MAX_PENDING = 200  # scheduled fetches; beyond it new alarms get no frames (logged), never more memory
OFFSETS_S = (0.0, 3.0)  # at alarm time and a few seconds after


class SnapshotStore(StationDb):
    WHAT = "snapshot tables"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS snapshots (
        gate TEXT NOT NULL, seq INTEGER NOT NULL, n INTEGER NOT NULL, taken_at TEXT NOT NULL,
        content_type TEXT, data BLOB, error TEXT, PRIMARY KEY (gate, seq, n));
    """

    def put(self, gate: str, seq: int, n: int, taken_at: str, *, data: bytes | None = None,
            content_type: str | None = None, error: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?,?)",
                       (gate, seq, n, taken_at, content_type, data, error))

    def list(self, gate: str, seq: int) -> list[dict]:
        rows = self.query("SELECT n, taken_at, content_type, length(data), error FROM snapshots "
                          "WHERE gate=? AND seq=? ORDER BY n", (gate, seq))
        return [{"n": n, "taken_at": at, "content_type": ct, "bytes": size or 0, "error": err}
                for n, at, ct, size, err in rows]

    def image(self, gate: str, seq: int, n: int) -> tuple[str, bytes] | None:
        rows = self.query("SELECT content_type, data FROM snapshots WHERE gate=? AND seq=? AND n=? AND data IS NOT NULL",
                          (gate, seq, n))
        return (rows[0][0], rows[0][1]) if rows else None


def fetch_image(url: str, auth_file: str, timeout: float) -> tuple[str, bytes]:
    """(content type, bytes) of one JPEG/PNG still; ValueError or OSError saying what went wrong."""
    handlers = []
    if auth_file:
        user, _, password = Path(auth_file).read_text(encoding="utf-8").splitlines()[0].partition(":")
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, url, user, password)
        handlers += [urllib.request.HTTPBasicAuthHandler(manager), urllib.request.HTTPDigestAuthHandler(manager)]
    opener = urllib.request.build_opener(*handlers)
    with opener.open(url, timeout=timeout) as resp:
        ctype = resp.headers.get_content_type()
        if ctype not in ("image/jpeg", "image/png"):
            raise ValueError(f"the camera answered {ctype}, not an image")
        data = resp.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"image larger than {MAX_BYTES // 1024 // 1024} MB")
    return ctype, data


class SnapshotTaker:
    """Schedules and takes the frames. `alarm(gate, seq)` returns at once."""

    def __init__(self, cfg: StationConfig, store: SnapshotStore, *, clock: Clock | None = None,
                 offsets: tuple[float, ...] = OFFSETS_S, workers: int = 2):
        self._cfg, self._store = cfg, store
        self._clock = clock or SystemClock()
        self._offsets = offsets
        self._heap: list[tuple[float, str, int, int]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._busy = 0
        self._threads = [threading.Thread(target=self._run, name=f"snapshots-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def wants(self, gate: str) -> bool:
        info = self._cfg.gate_info.get(gate)
        return bool(info and info.snapshot_url)

    def alarm(self, gate: str, seq: int) -> None:
        if not self.wants(gate):
            return
        now = time.monotonic()
        with self._cond:
            if len(self._heap) + len(self._offsets) > MAX_PENDING:
                log.warning("snapshots: %d fetches pending; none for %s/%s", len(self._heap), gate, seq)
                return
            for n, offset in enumerate(self._offsets):
                heapq.heappush(self._heap, (now + offset, gate, seq, n))
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and not self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                if self._closed:
                    return
                _, gate, seq, n = heapq.heappop(self._heap)
                self._busy += 1
            try:
                self._take(gate, seq, n)
            finally:
                with self._cond:
                    self._busy -= 1

    def _take(self, gate: str, seq: int, n: int) -> None:
        info = self._cfg.gate_info[gate]
        taken_at = format_ts(self._clock.wall())
        try:
            ctype, data = fetch_image(info.snapshot_url, info.snapshot_auth_file, self._cfg.web.snapshot_timeout_seconds)
            self._store.put(gate, seq, n, taken_at, data=data, content_type=ctype)
        except (OSError, ValueError, urllib.error.URLError, IndexError) as exc:
            log.warning("snapshot %s/%s #%d from %s failed: %s", gate, seq, n, info.snapshot_url, exc)
            self._store.put(gate, seq, n, taken_at, error=str(exc)[:300] or type(exc).__name__)
        except Exception as exc:  # a broken camera must never kill the fetch thread
            log.exception("snapshot %s/%s #%d failed", gate, seq, n)
            self._store.put(gate, seq, n, taken_at, error=type(exc).__name__)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(self._cfg.web.snapshot_timeout_seconds + 2)
