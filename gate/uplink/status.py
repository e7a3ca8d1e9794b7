"""The retained `P/G/status` message (interface §4): online on every connect, offline as the last will."""
from __future__ import annotations

import json
from typing import Any

# The part of the controller snapshot the status reports. The status is republished whenever this
# view differs from the last published one (not after a list of record types: which records change
# the gate's state is the core's business, and a list goes stale).
STATUS_KEYS = ("mode", "lock", "door", "faulty_devices", "active_alarms", "registry_version", "registry_hash")


def status_view(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """The status-relevant part of a controller snapshot, for a cheap "has it changed?" comparison."""
    snap = snapshot or {}
    return {key: snap.get(key) for key in STATUS_KEYS}


def online_status(gate_id: str, *, ts: str, last_seq: int, backlog: int, snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """`online`, `gate`, `ts`, `last_seq`, `backlog`, device `health`, and from the controller snapshot
    `mode`, `lock`, `door` and (when the snapshot has them) `active_alarms` and the compound registry
    version held (`registry_version`, `registry_hash`, `registry_compound`: docs/registry.md)."""
    snap = dict(snapshot or {})
    faulty = dict(snap.get("faulty_devices") or {})
    status: dict[str, Any] = {
        "online": True,
        "gate": gate_id,
        "ts": ts,
        "last_seq": last_seq,
        "backlog": backlog,
        "health": {"ok": not faulty, "faulty_devices": faulty},
    }
    for key in ("mode", "lock", "door", "active_alarms", "registry_version", "registry_hash", "registry_compound"):
        if key in snap:
            status[key] = snap[key]
    return status


def offline_status(gate_id: str, ts: str | None = None) -> dict[str, Any]:
    """The last will (no `ts`: it is registered at connect time) and the goodbye of a clean stop."""
    status: dict[str, Any] = {"online": False, "gate": gate_id}
    if ts is not None:
        status["ts"] = ts
    return status


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
