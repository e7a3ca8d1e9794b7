"""The gate's own SIA DC-09 path (`[[receivers]]` in the gate config): its alarms go straight to the
alarm receiving centre too, so a forced opening reaches it while the broker or the station is down.
Same module as the station's (gate/dc09); the outbox lives in storage.dir/dc09-outbox.db.

Attached as a controller record listener: the journal has committed the record when it runs, and
the listener only writes the outbox (alarms only), so the door loop never waits on a receiver."""
from __future__ import annotations

import dataclasses
import logging
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
    controller.record_listeners.append(lambda rec: _submit(fwd, rec))
    log.info("DC-09: alarms also go to %s", ", ".join(r.name for r in receivers))
    return fwd.start()


def _submit(fwd: Dc09Forwarder, rec: JournalRecord) -> None:
    fwd.submit(rec.payload())


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
