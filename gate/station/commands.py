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
from gate.uplink.signing import RESULT, check_seal, sign
from gate.station.config import StationConfig
from gate.core.timefmt import format_ts

log = logging.getLogger("gate.station.commands")

RESERVED = ("cmd_id", "gate", "issued_at", "action", "sig")
MAX_SHOWN = 128  # characters of gate-supplied text in a log line
MAX_RESULT_BYTES = 256 * 1024


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
    """The gate's answer, or `timed_out` when none came in time. `verified` False: the answer had no
    valid MAC by the gate's key (only ever a rejection: an unverified `ok` is never believed)."""

    cmd_id: str
    ok: bool
    error: str | None = None
    timed_out: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    verified: bool = True

    def describe(self) -> str:
        if self.timed_out:
            return f"{self.cmd_id}: no result from the gate (timed out)"
        if not self.verified:
            return (f"{self.cmd_id}: no verified result; an answer without a valid MAC by the gate's key said: "
                    f"rejected: {self.error or 'no reason given'}")
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
    """Results by (gate, cmd_id), for callers blocked in `wait` while the network thread calls
    `deliver`. A result counts only from the gate the command was sent to (its `P/G/cmd/result`
    topic): another gate answering with the same cmd_id completes nothing.

    An unverified answer (no valid MAC) never completes a wait: a forged `ok` is ignored, and a
    rejection is kept only as the fallback reported when no verified answer comes before the timeout
    (that is how a station holding the wrong key learns "bad signature")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[tuple[str, str], threading.Event] = {}
        self._results: dict[tuple[str, str], CommandResult] = {}
        self._fallback: dict[tuple[str, str], CommandResult] = {}
        self._gates: dict[str, str] = {}  # cmd_id -> gate, so `wait(cmd_id)` finds its key

    def expect(self, cmd_id: str, gate: str) -> None:
        with self._lock:
            self._gates[cmd_id] = gate
            self._events.setdefault((gate, cmd_id), threading.Event())

    def deliver(self, payload: dict[str, Any], gate: str, *, verified: bool = True) -> CommandResult | None:
        """Store a `cmd/result` payload that arrived on `gate`'s result topic; returns the parsed
        result, or None if it is malformed (or an unverified `ok`)."""
        cmd_id, ok = payload.get("cmd_id"), payload.get("ok")
        if not isinstance(cmd_id, str) or not isinstance(ok, bool) or (ok and not verified):
            return None
        error = payload.get("error")
        error = error[:500] if isinstance(error, str) and error else None
        result = CommandResult(cmd_id, ok, error, payload=payload, verified=verified)
        with self._lock:
            key = (gate, cmd_id)
            event = self._events.get(key)
            if event is not None and verified:
                self._results[key] = result
                event.set()
            elif event is not None:
                self._fallback.setdefault(key, result)
        return result

    def wait(self, cmd_id: str, timeout: float, *, gate: str | None = None) -> CommandResult:
        """The result of `cmd_id` (sent to `gate`, by default the gate given to `expect`), or a
        timed-out result."""
        with self._lock:
            key = (gate if gate is not None else self._gates.get(cmd_id, ""), cmd_id)
            event = self._events.setdefault(key, threading.Event())
        event.wait(timeout)
        with self._lock:
            self._events.pop(key, None)
            self._gates.pop(cmd_id, None)
            fallback = self._fallback.pop(key, None)
            return self._results.pop(key, None) or fallback or CommandResult(cmd_id, False, timed_out=True)


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
            self.pending.expect(cmd["cmd_id"], gate)
        info = self._client.publish(self.topic(gate), json.dumps(cmd, ensure_ascii=False), qos=1, retain=False)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise StationLinkError(f"publishing {action} to {self.topic(gate)} failed: {mqtt.error_string(info.rc)}")
        return cmd

    def send(self, gate: str, action: str, args: dict[str, Any] | None = None, *,
             timeout: float | None = None) -> CommandResult:
        """Publish and wait for the gate's result (or a timed-out result)."""
        cmd = self.publish(gate, action, args)
        return self.pending.wait(cmd["cmd_id"], self._cfg.result_timeout_seconds if timeout is None else timeout,
                                 gate=gate)

    def handle_result(self, payload: dict[str, Any], gate: str) -> CommandResult | None:
        """A payload from `P/gate/cmd/result`. Only a result with a valid MAC by `gate`'s key
        (signing.RESULT) completes a command: a forged `ok: true` must never tell an officer a door
        opened. An unverified rejection is logged and kept as a fallback (see PendingResults)."""
        try:
            verified = check_seal(payload, self._cfg.secret_for(gate), RESULT)
        except (OSError, ValueError):  # ConfigError is a ValueError: no key for this gate
            verified = False
        if not verified:
            log.warning("result on %s/%s/cmd/result has no valid MAC by the gate's key (cmd_id %r): "
                        "not believed", self._cfg.topic_prefix, gate[:MAX_SHOWN], str(payload.get("cmd_id"))[:MAX_SHOWN])
        return self.pending.deliver(payload, gate, verified=verified)


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
        if len(msg.payload) > MAX_RESULT_BYTES:
            log.warning("%s: result larger than %d bytes ignored", msg.topic, MAX_RESULT_BYTES)
            return
        try:
            payload = json.loads(msg.payload)
        except (ValueError, RecursionError):
            log.warning("%s: result is not JSON", msg.topic)
            return
        gate = msg.topic[len(self._cfg.topic_prefix) + 1:].split("/")[0]
        if isinstance(payload, dict):
            self.sender.handle_result(payload, gate)

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

