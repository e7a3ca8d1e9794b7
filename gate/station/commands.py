"""Signed station commands (interface §5): build, sign, publish on `P/G/cmd`, wait for `P/G/cmd/result`.

Also the one place that turns a `StationConfig` into a connected paho client (TLS, credentials,
protocol), shared by the consumer and the one-shot `send` command.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gate.clock import Clock, SystemClock
from gate.core.errors import GateError, InputError
from gate.uplink.signing import sign
from gate.station.config import StationConfig
from gate.core.timefmt import format_ts

log = logging.getLogger("gate.station.commands")

RESERVED = ("cmd_id", "gate", "issued_at", "action", "sig")


class StationLinkError(GateError, ConnectionError):
    """The station could not reach the broker (the message names host and port)."""


def build_command(gate: str, action: str, args: dict[str, Any], key: bytes, *,
                  clock: Clock | None = None, cmd_id: str | None = None) -> dict[str, Any]:
    """A signed command object: cmd_id (uuid4 hex), gate, issued_at (now, RFC 3339 UTC), action, args, sig."""
    if not gate or any(c in gate for c in "/+#"):
        raise InputError(f"gate id {gate!r} is not a valid topic level")
    if not action:
        raise InputError("command action must not be empty")
    clash = sorted(set(args) & set(RESERVED))
    if clash:
        raise InputError(f"command argument(s) {', '.join(clash)} are reserved")
    obj = {"cmd_id": cmd_id or uuid.uuid4().hex, "gate": gate,
           "issued_at": format_ts((clock or SystemClock()).wall()), "action": action, **args}
    return sign(obj, key)


@dataclass(frozen=True)
class CommandResult:
    """The gate's answer, or `timed_out` when none came in time."""

    cmd_id: str
    ok: bool
    error: str | None = None
    timed_out: bool = False
    payload: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.timed_out:
            return f"{self.cmd_id}: no result from the gate (timed out)"
        return f"{self.cmd_id}: ok" if self.ok else f"{self.cmd_id}: rejected: {self.error or 'no reason given'}"


def make_client(cfg: StationConfig, client_id: str) -> mqtt.Client:
    """A paho client configured from the station config (not yet connected)."""
    protocol = mqtt.MQTTv5 if cfg.protocol == 5 else mqtt.MQTTv311
    kwargs: dict[str, Any] = {"client_id": client_id, "protocol": protocol}
    if protocol != mqtt.MQTTv5:
        kwargs["clean_session"] = cfg.session_expiry_seconds == 0
    client = mqtt.Client(CallbackAPIVersion.VERSION2, **kwargs)
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password())
    if cfg.tls.enabled:
        client.tls_set(ca_certs=cfg.tls.ca_file or None, certfile=cfg.tls.cert_file or None,
                       keyfile=cfg.tls.key_file or None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_properties(cfg: StationConfig):
    if cfg.protocol != 5:
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.session_expiry_seconds
    return props


def topic_qos(cfg: StationConfig, topic: str):
    """A subscription entry for `client.subscribe([...])` at QoS 1 in the configured protocol."""
    if cfg.protocol == 5:
        from paho.mqtt.subscribeoptions import SubscribeOptions
        return (topic, SubscribeOptions(qos=1))
    return (topic, 1)


class PendingResults:
    """Results by cmd_id, for callers blocked in `wait` while the network thread calls `deliver`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._results: dict[str, CommandResult] = {}

    def expect(self, cmd_id: str) -> None:
        with self._lock:
            self._events.setdefault(cmd_id, threading.Event())

    def deliver(self, payload: dict[str, Any]) -> CommandResult | None:
        """Store a `cmd/result` payload; returns the parsed result, or None if it is malformed."""
        cmd_id, ok = payload.get("cmd_id"), payload.get("ok")
        if not isinstance(cmd_id, str) or not isinstance(ok, bool):
            return None
        error = payload.get("error")
        result = CommandResult(cmd_id, ok, error if isinstance(error, str) and error else None, payload=payload)
        with self._lock:
            event = self._events.get(cmd_id)
            if event is not None:
                self._results[cmd_id] = result
                event.set()
        return result

    def wait(self, cmd_id: str, timeout: float) -> CommandResult:
        with self._lock:
            event = self._events.setdefault(cmd_id, threading.Event())
        event.wait(timeout)
        with self._lock:
            self._events.pop(cmd_id, None)
            return self._results.pop(cmd_id, None) or CommandResult(cmd_id, False, timed_out=True)


class CommandSender:
    """Signs and publishes commands through an already connected client. Whoever owns the client
    routes `P/+/cmd/result` payloads to `handle_result`."""

    def __init__(self, client: mqtt.Client, cfg: StationConfig, *, clock: Clock | None = None):
        self._client, self._cfg = client, cfg
        self._clock = clock or SystemClock()
        self.pending = PendingResults()

    def topic(self, gate: str) -> str:
        return f"{self._cfg.topic_prefix}/{gate}/cmd"

    def publish(self, gate: str, action: str, args: dict[str, Any] | None = None, *,
                track: bool = True) -> dict[str, Any]:
        """Sign and publish at QoS 1, never retained (the gate rejects retained commands).
        `track=False`: nobody will wait for the result (the consumer's replays), so keep nothing."""
        cmd = build_command(gate, action, args or {}, self._cfg.secret_for(gate), clock=self._clock)
        if track:
            self.pending.expect(cmd["cmd_id"])
        info = self._client.publish(self.topic(gate), json.dumps(cmd, ensure_ascii=False), qos=1, retain=False)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise StationLinkError(f"publishing {action} to {self.topic(gate)} failed: {mqtt.error_string(info.rc)}")
        return cmd

    def send(self, gate: str, action: str, args: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> CommandResult:
        """Publish and wait for the gate's result (or a timed-out result)."""
        cmd = self.publish(gate, action, args)
        return self.pending.wait(cmd["cmd_id"], self._cfg.result_timeout_seconds if timeout is None else timeout)

    def handle_result(self, payload: dict[str, Any]) -> CommandResult | None:
        return self.pending.deliver(payload)


class CommandChannel:
    """A short-lived connection for one-shot commands (`gatectl station send`): connects, subscribes
    to the results of the gates it will command, then sends. Closable, a context manager."""

    def __init__(self, cfg: StationConfig, *, clock: Clock | None = None, client_id: str | None = None,
                 connect_timeout: float = 10.0):
        self._cfg = cfg
        self._client = make_client(cfg, client_id or f"{cfg.client_id}-send-{uuid.uuid4().hex[:8]}")
        self.sender = CommandSender(self._client, cfg, clock=clock)
        self._connected = threading.Event()
        self._suback = threading.Condition()
        self._acked_mids: set[int] = set()
        self._closed = False
        self._client.on_connect = lambda c, u, f, rc, p=None: self._connected.set() if not rc.is_failure else None
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        try:
            self._client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive, properties=connect_properties(cfg))
        except OSError as exc:
            raise StationLinkError(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(connect_timeout):
            self.close()
            raise StationLinkError(f"broker {cfg.host}:{cfg.port} did not accept the connection "
                                   f"within {connect_timeout:g}s")

    def _on_message(self, client, userdata, msg) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            log.warning("%s: result is not JSON", msg.topic)
            return
        if isinstance(payload, dict):
            self.sender.handle_result(payload)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:
        with self._suback:
            if not any(getattr(rc, "is_failure", False) for rc in reason_codes):
                self._acked_mids.add(mid)
            self._suback.notify_all()

    def watch_results(self, gate: str, timeout: float = 5.0) -> None:
        """Subscribe to `P/gate/cmd/result` and wait for the SUBACK, so no result can slip by."""
        topic = f"{self._cfg.topic_prefix}/{gate}/cmd/result"
        with self._suback:  # held across subscribe so the SUBACK cannot be handled before we wait
            rc, mid = self._client.subscribe([topic_qos(self._cfg, topic)])
            ok = rc == mqtt.MQTT_ERR_SUCCESS and self._suback.wait_for(lambda: mid in self._acked_mids, timeout)
        if not ok:
            raise StationLinkError(f"could not subscribe to {topic} (refused or no SUBACK within {timeout:g}s)")

    def send(self, gate: str, action: str, args: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> CommandResult:
        self.watch_results(gate)
        return self.sender.send(gate, action, args, timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def __enter__(self) -> "CommandChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

