"""One MQTT connection to the station broker, kept up for as long as the gate runs.

A fresh paho client per connection attempt: paho keeps unacknowledged QoS 1 messages only in memory
and re-sends them itself after a reconnect, which would race the journal-driven re-send (stale mids,
duplicate acks). Starting each session from an empty client leaves the journal as the only outbox.

Liveness: paho sends PINGREQ after `keepalive` idle seconds and gives up one `keepalive` later, so a
frozen broker is noticed after up to 2× keepalive. We run paho's keepalive at half `keepalive_seconds`,
which bounds detection to about 1× the configured value (the broker, told the halved value, expects a
packet within 1.5× of it, which the pings provide).
"""
from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gate.core.errors import ConfigError

log = logging.getLogger("gate.mqtt")


@dataclass(frozen=True)
class SessionSettings:
    """Everything needed to reach the broker (built from the `[mqtt]` config section)."""

    host: str
    port: int
    client_id: str
    protocol: str = "5"  # or "3.1.1"
    keepalive_seconds: int = 20
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    # While something urgent waits (an alarm in the journal), no reconnect wait exceeds this.
    urgent_reconnect_max_seconds: float = 5.0
    # MQTT 5 CONNECT Maximum-Packet-Size: the broker never sends the gate a bigger packet (it drops
    # it), so a huge command is never read into memory at all. 0: none. (3.1.1 has no such field.)
    max_packet_bytes: int = 1024 * 1024 + 64 * 1024
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    username: str = ""
    password: str | None = None
    max_in_flight: int = 100


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class Backoff:
    """Capped exponential backoff with jitter: attempt n waits a random time in [d/2, d],
    d = min(max, min_s * 2**n). Jitter keeps a compound's gates from reconnecting in lockstep."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None):
        self.min_s, self.max_s = min_s, max_s
        self._rng = rng or random.Random()
        self._n = 0

    def next(self) -> float:
        d = min(self.max_s, self.min_s * (2 ** min(self._n, 30)))
        self._n += 1
        return self._rng.uniform(d / 2, d)

    def reset(self) -> None:
        self._n = 0


class MqttSession:
    """Keeps one broker connection up on a background thread.

    Each successful connection is a numbered session (`session_no`, 1, 2, ...). Callbacks (all on the
    network thread; keep them short; an exception in one is logged, never fatal):
    `on_up(session)` after each successful CONNACK but *before* the session counts as connected, so
    per-session bookkeeping is in place before anything can be published on it (subscribe there);
    `on_ready()` right after it counts as connected (wake publishers); `on_down()` when a connection
    ends; `on_ack(mid, session_no)` on PUBACK; `on_message(topic, payload, retained)`.
    `urgent()` (session thread, between attempts): True while something must reach the broker soon;
    then no reconnect wait exceeds `urgent_reconnect_max_seconds`. `hurry()` (any thread) re-checks
    it during a wait already running, so an alarm raised in a long outage does not sit out a 60 s
    backoff after the broker is back.
    `publish()` may be called from any thread; it returns the message id, or None when not connected
    (or, given `session=`, when that session is no longer the current one).
    """

    def __init__(
        self,
        settings: SessionSettings,
        *,
        will: Will | None = None,
        on_up: Callable[["MqttSession"], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        on_down: Callable[[], None] | None = None,
        on_ack: Callable[[int, int], None] | None = None,
        on_message: Callable[[str, bytes, bool], None] | None = None,
        urgent: Callable[[], bool] | None = None,
        rng: random.Random | None = None,
    ):
        if settings.protocol not in ("3.1.1", "5"):
            raise ConfigError([f"mqtt.protocol: must be '3.1.1' or '5', got {settings.protocol!r}"])
        if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
            raise ConfigError(["mqtt.tls_cert_file: a client certificate needs mqtt.tls_key_file too (and vice versa)"])
        self.settings = settings
        self.will = will
        self.on_up, self.on_ready, self.on_down = on_up, on_ready, on_down
        self.on_ack, self.on_message = on_ack, on_message
        self.urgent = urgent
        self._rng = rng or random.Random()
        self._backoff = Backoff(settings.reconnect_min_seconds, settings.reconnect_max_seconds, self._rng)
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        # (client, session number) of the current connection, swapped as one value so a publisher
        # never pairs one session's client with another's number.
        self._link: tuple[mqtt.Client, int] | None = None
        self._session_no = 0
        self._thread: threading.Thread | None = None
        self.attempts = 0  # connection attempts so far
        self.connects = 0  # successful CONNACKs so far
        self.disconnects = 0

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "MqttSession":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-session", daemon=True)
            self._thread.start()
        return self

    def hurry(self) -> None:
        """Something urgent is waiting: re-check `urgent()` in the current reconnect wait."""
        self._hurry.set()

    def close(self, timeout: float = 3.0) -> None:
        """Disconnect cleanly (no last will) and stop the thread. Safe twice."""
        self._stop.set()
        self._hurry.set()
        client = self._client
        if client is not None and self._connected.is_set():
            try:
                client.disconnect()
            except Exception:  # closing must not fail on a dying socket
                log.debug("disconnect failed", exc_info=True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "MqttSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def session_no(self) -> int:
        """The number of the current (or last) connection; 0 before the first one."""
        return self._session_no

    # --- I/O ------------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                session: int | None = None) -> int | None:
        """Queue a message; its mid, or None when not connected or `session` is no longer current."""
        link = self._link
        if link is None or not self._connected.is_set() or (session is not None and link[1] != session):
            return None
        client = link[0]
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            return None if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN else info.mid
        return info.mid

    def publish_and_wait(self, topic: str, payload: bytes, *, retain: bool = False, timeout: float = 2.0) -> bool:
        """Publish at QoS 1 and wait for the PUBACK (for the goodbye status). False if not confirmed."""
        client = self._client
        if client is None or not self._connected.is_set():
            return False
        info = client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def subscribe(self, topic: str) -> None:
        client = self._client
        if client is None:
            return
        if self.settings.protocol == "5":
            # retainAsPublished: a retained command keeps its retain flag even when it arrives live.
            # QoS 0 with a Maximum-Packet-Size: mosquitto 2.0.11 never frees the QoS 1 in-flight slot
            # of a PUBLISH it drops as too large, so 20 oversized payloads would stop every later
            # command until the next reconnect (tested). Our sessions are clean, so QoS 1 would add
            # nothing across a reconnect; within one TCP connection nothing is lost either way.
            qos = 0 if self.settings.max_packet_bytes else 1
            client.subscribe(topic, options=SubscribeOptions(qos=qos, retainAsPublished=True))
        else:
            client.subscribe(topic, qos=1)

    # --- the network thread -----------------------------------------------------------------------
    def _new_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
            reconnect_on_failure=False,
        )
        self._connect_properties = None
        if v5 and s.max_packet_bytes:
            props = Properties(PacketTypes.CONNECT)
            props.MaximumPacketSize = s.max_packet_bytes
            self._connect_properties = props
        client.max_inflight_messages_set(max(20, s.max_in_flight + 20))
        client.max_queued_messages_set(0)
        # Without loop_start(), paho writes a publish to the socket from the publishing thread itself,
        # concurrently with the network thread's writes: two writers can swap packets, so records
        # leave out of seq order. A socket-write hook (a no-op: our loop() selects for writing
        # anyway, woken through paho's socket pair) makes paho leave every write to the network thread.
        client.on_socket_register_write = lambda *_args: None
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, qos=self.will.qos, retain=self.will.retain)
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls_ca_file:
            client.tls_set(
                ca_certs=s.tls_ca_file,
                certfile=s.tls_cert_file or None,
                keyfile=s.tls_key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _run(self) -> None:
        s = self.settings
        paho_keepalive = max(2, s.keepalive_seconds // 2)
        while not self._stop.is_set():
            try:
                self._attempt(paho_keepalive)
            except Exception:
                # Whatever goes wrong in one connection (paho, TLS, a callback), the gate must keep
                # trying: a dead session thread would silently end all reporting to the station.
                log.exception("MQTT session to %s:%d failed unexpectedly; reconnecting", s.host, s.port)
                self._drop_client()
            self._lost()
            if not self._stop.is_set():
                self._wait_before_reconnect(self._backoff.next())
        self._lost()

    def _is_urgent(self) -> bool:
        try:
            return bool(self.urgent and self.urgent())
        except Exception:
            log.exception("urgent() failed")
            return False

    def _wait_before_reconnect(self, delay: float) -> None:
        """Wait `delay` (the backoff), but no longer than a jittered urgent cap while `urgent()` holds,
        re-checked whenever `hurry()` is called."""
        s = self.settings
        start = time.monotonic()
        cap = self._rng.uniform(s.urgent_reconnect_max_seconds / 2, s.urgent_reconnect_max_seconds)
        urgent = self._is_urgent()
        log.info("reconnecting to %s:%d in %.1f s", s.host, s.port, min(delay, cap) if urgent else delay)
        while not self._stop.is_set():
            self._hurry.clear()
            end = start + (min(delay, cap) if urgent else delay)
            left = end - time.monotonic()
            if left <= 0:
                return
            if self._hurry.wait(left) and not self._stop.is_set():
                urgent = urgent or self._is_urgent()

    def _attempt(self, paho_keepalive: int) -> None:
        """One connection: connect, run the loop until it fails or close() is called."""
        s = self.settings
        client = self._new_client()
        self._client = client
        self.attempts += 1
        try:
            kwargs: dict[str, Any] = {"keepalive": paho_keepalive}
            if s.protocol == "5":
                kwargs["clean_start"] = True
                if self._connect_properties is not None:
                    kwargs["properties"] = self._connect_properties
            client.connect(s.host, s.port, **kwargs)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("broker %s:%d unreachable: %s", s.host, s.port, exc)
            return
        while not self._stop.is_set():
            rc = client.loop(timeout=0.1)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if self._stop.is_set():
            # close() sent DISCONNECT; let the loop flush it before the socket goes.
            for _ in range(10):
                if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break

    def _drop_client(self) -> None:
        """Close the socket of a connection that failed unexpectedly (best effort)."""
        self._link = None
        client = self._client
        if client is None:
            return
        try:
            sock = client.socket()
            if sock is not None:
                sock.close()
        except Exception:
            log.debug("closing the failed connection's socket failed", exc_info=True)

    def _lost(self) -> None:
        # paho may report one loss twice (paho #870): only the first counts.
        self._link = None
        if self._connected.is_set():
            self._connected.clear()
            self.disconnects += 1
            if self.on_down:
                try:
                    self.on_down()
                except Exception:
                    log.exception("on_down failed")

    # --- paho callbacks (network thread) -----------------------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _props=None) -> None:
        if reason_code.is_failure:
            log.error("broker %s:%d refused the connection: %s", self.settings.host, self.settings.port, reason_code)
            return
        if client is not self._client:
            return
        self._backoff.reset()
        self.connects += 1
        self._session_no += 1
        self._link = (client, self._session_no)
        log.info("connected to %s:%d (MQTT %s, session %d)", self.settings.host, self.settings.port,
                 self.settings.protocol, self._session_no)
        # Bookkeeping first, then "connected": a publish before on_up finished could have its PUBACK
        # land in the previous session's books.
        if self.on_up:
            try:
                self.on_up(self)
            except Exception:
                log.exception("on_up failed")
        self._connected.set()
        if self.on_ready:
            try:
                self.on_ready()
            except Exception:
                log.exception("on_ready failed")

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _props=None) -> None:
        if client is self._client and self._connected.is_set():
            level = logging.INFO if self._stop.is_set() else logging.WARNING
            log.log(level, "disconnected from %s:%d: %s", self.settings.host, self.settings.port, reason_code)
            self._lost()

    def _on_publish(self, client, _userdata, mid, _reason_code=None, _props=None) -> None:
        link = self._link
        if link is not None and client is link[0] and self.on_ack:
            try:
                self.on_ack(mid, link[1])
            except Exception:
                log.exception("PUBACK handler failed for mid %d", mid)

    def _on_message(self, client, _userdata, msg) -> None:
        if client is self._client and self.on_message:
            try:
                self.on_message(msg.topic, msg.payload, bool(msg.retain))
            except Exception:
                log.exception("message handler failed for %s", msg.topic)
