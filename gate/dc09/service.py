"""The DC-09 forwarder shared by the station and the gate: turns alarm records (§4 payloads) into
reports for every configured receiver, queues them in the durable outbox, and runs one link
thread per receiver. `submit()` only writes the outbox and wakes the links: it never waits on a
receiver, so a dead or hostile receiver never slows the caller (the MQTT consumer, the door loop).
"""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from gate.clock import Clock, SystemClock
from gate.core.errors import InputError, StorageError
from gate.core.timefmt import format_ts, parse_ts
from gate.dc09.events import report_for
from gate.dc09.link import ReceiverLink, ReceiverSettings
from gate.dc09.outbox import Outbox

log = logging.getLogger("gate.dc09")


class Dc09Forwarder:
    """`start()`, then `submit(record)` for each record, `status()` for the links, `close()`.
    `accounts` maps a gate id to its own account (else the receiver's); `zones` / `users` map a
    gate id to its number tables (device or reader name → zone, guard id → user)."""

    def __init__(self, receivers: list[ReceiverSettings], outbox_path: str | Path, *, clock: Clock | None = None,
                 accounts: Mapping[str, str] | None = None, zones: Mapping[str, Mapping[str, int]] | None = None,
                 users: Mapping[str, Mapping[str, int]] | None = None):
        self.clock = clock or SystemClock()
        self.receivers = list(receivers)
        self.accounts = dict(accounts or {})
        self.zones, self.users = dict(zones or {}), dict(users or {})
        self.outbox = Outbox(outbox_path)
        self.links = {r.name: ReceiverLink(r, self.outbox, clock=self.clock) for r in self.receivers}
        self.stats = {"queued": 0, "skipped": 0, "duplicates": 0, "errors": 0}

    def start(self) -> "Dc09Forwarder":
        for link in self.links.values():
            link.start()
        return self

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.outbox.close()

    def __enter__(self) -> "Dc09Forwarder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, record: Mapping[str, Any]) -> int:
        """Queue `record` for every receiver that takes it; the number of reports queued. Never
        raises for a bad record (it is logged): the caller's other listeners must still run."""
        try:
            gate, seq = str(record["gate"]), int(record["seq"])
        except (KeyError, TypeError, ValueError):
            self.stats["errors"] += 1
            log.error("DC-09: a record without gate and seq was not forwarded: %.200r", record)
            return 0
        rows, names = [], []
        now = format_ts(self.clock.wall())
        for r in self.receivers:
            try:
                if self._too_old(record, r):
                    self.stats["skipped"] += 1
                    continue
                account = self.accounts.get(gate) or r.account
                report = report_for(record, account, r.format, zones=self.zones.get(gate), users=self.users.get(gate))
            except (InputError, ValueError) as exc:
                self.stats["errors"] += 1
                log.error("DC-09: %s seq %s not queued for receiver %s: %s", gate, seq, r.name, exc)
                continue
            if report is None:
                self.stats["skipped"] += 1
                continue
            rows.append((r.name, f"{gate}#{seq}", report.token, account.upper(), report.data, report.code, now))
            names.append(r.name)
        if not rows:
            return 0
        try:
            fresh = self.outbox.enqueue_many(rows)
        except StorageError as exc:
            self.stats["errors"] += 1
            log.critical("DC-09: %s seq %s (%s) could not be queued: %s", gate, seq, record.get("type"), exc)
            return 0
        for name, new in zip(names, fresh):
            if new:
                self.links[name].wake()
        queued = sum(fresh)
        self.stats["queued"] += queued
        self.stats["duplicates"] += len(fresh) - queued
        return queued

    def _too_old(self, record: Mapping[str, Any], r: ReceiverSettings) -> bool:
        """A record older than `max_age_seconds` (a backfill of a gate's old journal) is not sent to an
        alarm centre as if it were happening now."""
        if r.max_age_seconds <= 0 or not isinstance(record.get("ts"), str):
            return False
        try:
            age = self.clock.wall() - parse_ts(record["ts"])
        except ValueError:
            return False
        if age > timedelta(seconds=r.max_age_seconds):
            log.info("DC-09: %s seq %s (%s) is %s old: not sent to %s", record.get("gate"), record.get("seq"),
                     record.get("type"), age, r.name)
            return True
        return False

    def status(self) -> list[dict[str, Any]]:
        """Each receiver link's state (plain dicts, for the console and `receivers status`)."""
        return [link.status() for link in self.links.values()]
