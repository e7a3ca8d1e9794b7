"""The gate's own SIA DC-09 path (`[[receivers]]` in the gate config): its alarms go straight to the
alarm receiving centre too, so a forced opening reaches it while the broker or the station is down.
Same module as the station's (gate/dc09); the outbox lives in storage.dir/dc09-outbox.db.

Attached as a controller record listener: the journal has committed the record when it runs; the
listener only hands it to a feeder thread that writes the outbox, so the door loop waits neither on a
receiver nor on the outbox's fsync (the relay moves right after the listeners). A record in that
hand-off when the process dies is still in the journal and is queued by the catch-up at the next start."""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from typing import Any

from gate.clock import Clock
from gate.config.schema import Config
from gate.dc09.service import Dc09Forwarder
from gate.dc09.settings import receiver_settings
from gate.store.journal import Journal, JournalRecord

log = logging.getLogger("gate.dc09")

OUTBOX = "dc09-outbox.db"


class _Nothing:
    def close(self) -> None:
        pass


def attach_receivers(cfg: Config, controller, journal: Journal, *, clock: Clock) -> Any:
    """Start the forwarder when receivers are configured and listen to the controller's records;
    returns something to close (a no-op without receivers)."""
    if not cfg.receivers:
        return _Nothing()
    problems: list[str] = []
    receivers = receiver_settings([dataclasses.asdict(r) for r in cfg.receivers], cfg.base_dir, problems)
    if problems:  # check-config reports these; a daemon started anyway keeps running without them
        for p in problems:
            log.critical("DC-09 receivers disabled: %s", p)
        return _Nothing()
    fwd = Dc09Forwarder(receivers, cfg.storage_dir / OUTBOX, clock=clock)
    _catch_up(fwd, journal, cfg.gate.id)
    feeder = _Feeder(fwd)
    controller.record_listeners.append(feeder.put)
    log.info("DC-09: alarms also go to %s", ", ".join(r.name for r in receivers))
    fwd.start()
    return feeder


class _Feeder:
    """Takes committed records off the door loop's thread and submits them to the forwarder."""

    def __init__(self, fwd: Dc09Forwarder):
        self.forwarder = fwd
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dc09-feeder", daemon=True)
        self._thread.start()

    def put(self, rec: JournalRecord) -> None:
        self._queue.put(rec)

    def _run(self) -> None:
        while (rec := self._queue.get()) is not None:
            try:
                self.forwarder.submit(rec.payload())
            except Exception:  # submit logs its own problems; this keeps the feeder alive regardless
                log.exception("DC-09: could not queue record %s", getattr(rec, "seq", "?"))

    def status(self) -> list[dict[str, Any]]:
        return self.forwarder.status()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)
        self.forwarder.close()


def _catch_up(fwd: Dc09Forwarder, journal: Journal, gate: str) -> None:
    """Records journaled after the newest one the outbox holds (a crash between the journal commit and
    the outbox write, or a restart) are queued now; the outbox ignores any it already has. A new
    outbox starts from now: the journal's past is not sent to the receiver."""
    last = fwd.outbox.last_seq_of(gate)
    if last is None:
        return
    start = last + 1
    while True:  # in pages: the journal may hold many ordinary events since the last alarm
        page = journal.records(from_seq=start, limit=1000)
        for rec in page:
            fwd.submit(rec.payload())
        if len(page) < 1000:
            return
        start = page[-1].seq + 1
