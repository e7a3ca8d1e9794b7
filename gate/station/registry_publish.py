"""Publishing a compound's registry version to its gates, and reading which version each holds.

Per gate: the chunks retained on `P/G/registry/<version>/<i>`, then the signed manifest retained on
`P/G/registry` (gate.core.registry), all QoS 1 and each waited for; then the previous version's chunk
topics are cleared (an empty retained payload). A gate that is offline finds the retained version
when it reconnects: catching up needs no station process running (docs/registry.md).
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


from gate.core.registry import (build_manifest, chunk_bodies, chunk_topic, content_hash, manifest_topic,
                                sign_manifest)
from gate.core.timefmt import format_ts
from gate.uplink.signing import STATUS, check_seal
from gate.station.commands import StationLinkError, connect_properties, make_client, topic_qos
from gate.station.config import StationConfig
from gate.station.registry import StationRegistry


def compound_gates(cfg: StationConfig, compound: str) -> list[str]:
    gates = sorted(g for g, info in cfg.gate_info.items() if info.compound == compound)
    if not gates:
        known = sorted({i.compound for i in cfg.gate_info.values() if i.compound})
        raise ValueError(f"--compound {compound!r}: no gate of the station config has compound = {compound!r}"
                         f" (compounds configured: {', '.join(known) or 'none'})")
    return gates


class _Connection:
    """A short-lived, connected paho client (context manager)."""

    def __init__(self, cfg: StationConfig, what: str, timeout: float = 10.0):
        self.cfg = cfg
        self.client = make_client(cfg, f"{cfg.client_id}-{what}-{uuid.uuid4().hex[:8]}")
        up = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p=None: up.set() if not rc.is_failure else None
        try:
            self.client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive, properties=connect_properties(cfg))
        except OSError as exc:
            raise StationLinkError(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}") from exc
        self.client.loop_start()
        if not up.wait(timeout):
            self.close()
            raise StationLinkError(f"broker {cfg.host}:{cfg.port} did not accept the connection within {timeout:g}s")

    def publish(self, topic: str, payload: bytes, timeout: float = 30.0) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise StationLinkError(f"publishing {topic} failed: {exc}") from exc
        if not info.is_published():
            raise StationLinkError(f"publishing {topic}: the broker did not confirm within {timeout:g}s")

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def __enter__(self) -> "_Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_version(cfg: StationConfig, registry: StationRegistry, compound: str) -> list[str]:
    """Publish the compound's current version to each of its gates; returns the gates."""
    gates = compound_gates(cfg, compound)
    current = registry.current(compound)
    if current is None:
        raise ValueError(f"compound {compound!r} has no registry yet (passes import or add first)")
    rows = registry.rows(compound)
    if content_hash(rows) != current.hash:   # a store changed behind our back must never go out
        raise ValueError(f"compound {compound!r}: stored list does not match version {current.version}'s hash")
    bodies = chunk_bodies(rows)
    issued = format_ts(datetime.now(timezone.utc))
    prefix = cfg.topic_prefix
    with _Connection(cfg, "registry") as conn:
        for gate in gates:
            secret = cfg.secret_for(gate)
            for i, body in enumerate(bodies):
                conn.publish(chunk_topic(prefix, gate, current.version, i), body)
            manifest = sign_manifest(build_manifest(compound, gate, current.version, current.hash, len(rows),
                                                    bodies, issued), secret)
            conn.publish(manifest_topic(prefix, gate), json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
            before = registry.published(gate)
            if before is not None and before[0] != current.version:
                for i in range(before[1]):
                    conn.publish(chunk_topic(prefix, gate, before[0], i), b"")
            registry.mark_published(gate, current.version, len(bodies))
    return gates


@dataclass(frozen=True)
class GateHolding:
    gate: str
    online: bool | None      # None: no verified status retained on the broker
    version: int | None
    hash: str | None


def read_holdings(cfg: StationConfig, gates: list[str], timeout: float = 3.0) -> list[GateHolding]:
    """Each gate's retained status (registry_version, registry_hash); waits until all arrived or `timeout`."""
    seen: dict[str, dict[str, Any]] = {}
    done = threading.Event()
    lock = threading.Lock()

    def on_message(client, userdata, msg) -> None:
        gate = msg.topic[len(cfg.topic_prefix) + 1:].split("/")[0]
        try:
            body = json.loads(msg.payload)
        except (ValueError, RecursionError):
            return
        try:
            verified = isinstance(body, dict) and check_seal(body, cfg.secret_for(gate), STATUS)
        except (OSError, ValueError):
            verified = False
        if verified:   # a forged status must never make drift look repaired
            with lock:
                seen[gate] = body
                if all(g in seen for g in gates):
                    done.set()

    with _Connection(cfg, "registry-status") as conn:
        conn.client.on_message = on_message
        conn.client.subscribe([topic_qos(cfg, f"{cfg.topic_prefix}/{g}/status") for g in gates])
        done.wait(timeout)
    out = []
    for g in gates:
        s = seen.get(g)
        if s is None:
            out.append(GateHolding(g, None, None, None))
            continue
        v = s.get("registry_version")
        out.append(GateHolding(g, bool(s.get("online")), v if isinstance(v, int) and not isinstance(v, bool) else None,
                               s.get("registry_hash") if isinstance(s.get("registry_hash"), str) else None))
    return out
