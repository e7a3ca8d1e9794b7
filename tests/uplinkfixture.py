"""In-process uplink against a real broker (shared by the uplink and command tests)."""
from __future__ import annotations

from pathlib import Path

from gate.uplink.command_gate import CommandGate
from gate.store.journal import Journal
from gate.uplink.session import SessionSettings
from gate.uplink.link import Uplink
from gatefixture import SECRET


def make_uplink(journal: Journal, port: int, *, keepalive: int = 5, max_in_flight: int = 100, replay_batch: int = 100,
                protocol: str = "3.1.1", snapshot=None, with_commands: bool = True, reconnect_max: float = 0.5,
                reconnect_min: float = 0.05, **uplink_args) -> Uplink:
    settings = SessionSettings(
        "127.0.0.1", port, client_id=f"gate-{journal.gate_id}", protocol=protocol, keepalive_seconds=keepalive,
        reconnect_min_seconds=reconnect_min, reconnect_max_seconds=reconnect_max, max_in_flight=max_in_flight,
    )
    gate = CommandGate(journal.gate_id, journal, key=SECRET) if with_commands else None
    return Uplink(journal, settings, gate_id=journal.gate_id, topic_prefix="compound", command_gate=gate,
                  snapshot=snapshot or (lambda: {"mode": "normal", "lock": "locked", "door": "closed",
                                                 "faulty_devices": {"rfid": "no answer"}}),
                  replay_batch=replay_batch, **uplink_args)


def open_journal(tmp: Path, gate_id: str = "test-gate") -> Journal:
    return Journal(tmp / "journal.db", gate_id)
