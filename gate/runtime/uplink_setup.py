"""Builds the uplink and the retention policy from the config (used by GateDaemon._start_uplink)."""
from __future__ import annotations

import logging
from typing import Any, Callable
from zoneinfo import ZoneInfo

from gate.clock import Clock
from gate.uplink.command_gate import CommandGate
from gate.uplink.replay_floor import FILE_NAME as FLOOR_FILE
from gate.config.checks import transport_warnings
from gate.config.schema import Config
from gate.store.journal import Journal
from gate.uplink.session import SessionSettings
from gate.store.passes import PassStore
from gate.uplink.remote_actions import lockdown_handler, passes_handler, unlock_handler
from gate.store.retention import RetentionPolicy
from gate.uplink.link import Uplink, read_password
from gate.uplink.registry_sync import RegistrySync
from gate.store.registry_replica import RegistryReplica

log = logging.getLogger("gate.uplink")


def session_settings(cfg: Config) -> SessionSettings:
    """SessionSettings from `[mqtt]`; paths resolved against the config file's folder. An unreadable
    password file is logged and the gate connects without it (it keeps deciding either way)."""
    m = cfg.mqtt
    password = None
    if m.password_file:
        try:
            password = read_password(cfg.path(m.password_file))
        except OSError as exc:
            log.critical("mqtt.password_file %s: %s; connecting without a password", m.password_file, exc)

    def path(value: str) -> str:
        return str(cfg.path(value)) if value else ""

    return SessionSettings(
        host=m.host,
        port=m.port,
        client_id=client_id(cfg),
        protocol=m.protocol,
        keepalive_seconds=m.keepalive_seconds,
        reconnect_min_seconds=m.reconnect_min_seconds,
        reconnect_max_seconds=m.reconnect_max_seconds,
        urgent_reconnect_max_seconds=min(m.alarm_reconnect_max_seconds, m.reconnect_max_seconds),
        tls_ca_file=path(m.tls_ca_file),
        tls_cert_file=path(m.tls_cert_file),
        tls_key_file=path(m.tls_key_file),
        username=m.username,
        password=password,
        max_in_flight=m.max_in_flight,
    )


def client_id(cfg: Config) -> str:
    """`mqtt.client_id`, else the broker username (bound to the credentials: with mosquitto's
    `use_username_as_clientid true` no other gate's login can claim it), else `gate-<gate.id>`."""
    m = cfg.mqtt
    return m.client_id or m.username or f"gate-{cfg.gate.id}"


def retention_policy(cfg: Config) -> RetentionPolicy:
    s = cfg.storage
    return RetentionPolicy(
        retention_days=s.retention_days,
        security_retention_days=s.security_retention_days,
        max_records=s.max_records,
        min_free_mb=s.min_free_mb,
        interval_seconds=s.retention_interval_minutes * 60.0,
    )


def build_uplink(
    cfg: Config,
    journal: Journal,
    *,
    clock: Clock,
    post: Callable[[object], None],
    passes: PassStore | None,
    snapshot: Callable[[], dict],
    record: Callable[[str, dict[str, Any]], Any] | None = None,
    note: Callable[[str, dict[str, Any]], None] | None = None,
) -> Uplink:
    """An Uplink (not started) with the built-in actions unlock, lockdown, replay and passes; with
    `note` (the daemon's main-loop journaling) also the compound registry sync (docs/registry.md)."""
    m = cfg.mqtt
    for warning in transport_warnings(cfg):
        log.warning("insecure transport: %s", warning)
    gate = CommandGate(
        cfg.gate.id,
        journal,
        secret_file=cfg.path(m.command_secret_file) if m.command_secret_file else None,
        clock=clock,
        max_skew_seconds=m.command_max_skew_seconds,
        floor_path=cfg.storage_dir / FLOOR_FILE,
    )
    if gate.key_problem or not m.command_secret_file:
        log.error("station commands disabled: %s", gate.key_problem or "no mqtt.command_secret_file")
    sync = registry_sync(cfg, gate, note) if note is not None else None
    if sync is not None:
        controller_snapshot = snapshot

        def snapshot() -> dict:   # the status also reports the registry version held
            return {**controller_snapshot(), **sync.status_fields()}
    uplink = Uplink(
        journal,
        session_settings(cfg),
        gate_id=cfg.gate.id,
        topic_prefix=m.topic_prefix,
        command_gate=gate,
        snapshot=snapshot,
        record=record,
        clock=clock,
        replay_batch=m.replay_batch,
    )
    # The snapshot lets unlock refuse up front in lockdown (the core would refuse the grant anyway).
    uplink.register_command("unlock", unlock_handler(post, clock, snapshot))
    uplink.register_command("lockdown", lockdown_handler(post, clock))
    if passes is not None:
        uplink.register_command("passes", passes_handler(passes, ZoneInfo(cfg.gate.timezone),
                                                         sync.status_fields if sync is not None else None))
    if sync is not None:
        sync.on_applied_hook(uplink.refresh_status)
        uplink.add_listener(sync.subscriptions, sync.offer, close=sync.close)
        sync.start()
    return uplink


def registry_sync(cfg: Config, gate: CommandGate, note: Callable[[str, dict[str, Any]], None]) -> RegistrySync | None:
    """The compound registry's receiver (docs/registry.md), when the gate can verify what it receives.
    `note(type, fields)` journals through the daemon's main loop (an alarm enters its alarm book)."""
    if not cfg.mqtt.command_secret_file:
        return None
    return RegistrySync(cfg.gate.id, cfg.mqtt.topic_prefix, RegistryReplica(cfg.storage_dir / "registry.db"),
                        key=lambda: gate.key, journal=note)
