"""Checks across config keys, and the domain settings derived from the config (core, screening, keypad)."""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import TYPE_CHECKING

from gate.core.door import DoorSettings
from gate.core.machine import CoreSettings

if TYPE_CHECKING:  # the schema calls these checks while it loads: only the type is needed here
    from gate.config.schema import Config


_GATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOPIC_PREFIX = re.compile(r"^[^#+\x00]+$")


def cross_checks(cfg: Config, problems: list[str]) -> None:
    """Append a 'key.path: message' line for every problem no single key shows."""
    if cfg.gate and not _GATE_ID.match(cfg.gate.id):
        problems.append(f"gate.id: must be 1-64 letters, digits, '-', '_' or '.', got {cfg.gate.id!r}")
    if cfg.mqtt and not _TOPIC_PREFIX.match(cfg.mqtt.topic_prefix or ""):
        problems.append(f"mqtt.topic_prefix: must be non-empty without '+', '#', got {cfg.mqtt.topic_prefix!r}")
    if cfg.mqtt and cfg.mqtt.reconnect_min_seconds > cfg.mqtt.reconnect_max_seconds:
        problems.append("mqtt.reconnect_min_seconds: must not exceed mqtt.reconnect_max_seconds")
    if cfg.mqtt:
        problems.extend(transport_problems(cfg))
    if cfg.door and cfg.door.prealarm_seconds >= cfg.door.held_open_seconds:
        problems.append("door.prealarm_seconds: must be less than door.held_open_seconds")
    if cfg.hardware and cfg.hardware.gpio:
        pins: dict[int, str] = {}
        g = cfg.hardware.gpio
        for f in dataclasses.fields(g):
            if f.name.endswith("_pin"):
                pin = getattr(g, f.name)
                if pin in pins:
                    problems.append(f"hardware.gpio.{f.name}: pin {pin} already used by hardware.gpio.{pins[pin]}")
                pins[pin] = f.name
        if cfg.hardware.rfid.enabled and cfg.hardware.rfid.rst_pin in pins:
            problems.append(
                f"hardware.rfid.rst_pin: pin {cfg.hardware.rfid.rst_pin} already used by "
                f"hardware.gpio.{pins[cfg.hardware.rfid.rst_pin]}"
            )
    if cfg.screening and cfg.hardware:
        reported = {line.split(":", 1)[0] for line in problems}
        # The domain objects re-check some bounds the schema already reported: say each key once.
        problems.extend(p for p in screening_problems(cfg) if p.split(":", 1)[0] not in reported)
    if cfg.keypad:
        problems.extend(keypad_problems(cfg))
    if cfg.credentials and cfg.credentials.enabled and not cfg.credentials.site_key_file:
        problems.append("credentials.site_key_file: required when credentials.enabled is true")
    if cfg.gate:
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(cfg.gate.timezone)
        except Exception:
            problems.append(f"gate.timezone: unknown time zone {cfg.gate.timezone!r}")
    if getattr(cfg, "feedback", None):
        problems.extend(feedback_problems(cfg))


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (a name is never resolved here)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _plaintext_off_loopback(cfg: Config) -> bool:
    m = cfg.mqtt
    return m.enabled and not m.tls_ca_file and not is_loopback(m.host)


def transport_problems(cfg: Config) -> list[str]:
    """Transport settings that are errors: a broker password in clear to another host."""
    m = cfg.mqtt
    if _plaintext_off_loopback(cfg) and m.password_file and not m.allow_plaintext:
        return [f"mqtt.tls_ca_file: empty, so the broker password (mqtt.password_file) would travel in clear "
                f"to {m.host}: set mqtt.tls_ca_file (docs/uplink.md), or mqtt.allow_plaintext = true to accept it"]
    return []


def transport_warnings(cfg: Config) -> list[str]:
    """Transport settings that work but expose the gate (check-config and doctor print them; the
    daemon logs them): no TLS or no broker authentication to another host, MQTT 3.1.1."""
    m = cfg.mqtt
    if not m.enabled:
        return []
    out = []
    if _plaintext_off_loopback(cfg):
        out.append(f"mqtt.tls_ca_file: empty: records (card UIDs), commands and any password travel in clear "
                   f"to {m.host}; anyone on the path can read or inject them (set mqtt.tls_ca_file, docs/uplink.md)")
    if not is_loopback(m.host) and not m.username and not m.tls_cert_file:
        out.append(f"mqtt.username: empty and no client certificate: the broker at {m.host} cannot tell this gate "
                   "from anyone (give each gate its own credentials and ACL, docs/uplink.md)")
    if m.protocol == "3.1.1":
        out.append('mqtt.protocol: "3.1.1": a live retained command executes once, and the gate cannot '
                   'announce a Maximum-Packet-Size against huge commands; use "5" (docs/uplink.md)')
    return out


def screening_settings(cfg: Config):
    """The pure screening core's settings from the config."""
    from gate.core.screening import ScreeningSettings

    s = cfg.screening
    return ScreeningSettings(
        window_before_s=s.window_before_s, window_after_s=s.window_after_s, min_samples=s.min_samples,
        presence_margin_c=s.presence_margin_c, skin_min_c=s.skin_min_c, skin_max_c=s.skin_max_c,
        plausible_min_c=s.plausible_min_c, plausible_max_c=s.plausible_max_c, offset_c=s.offset_c,
    )


def screening_policy(cfg: Config):
    from gate.core.screening_policy import ScreeningPolicy

    s = cfg.screening
    return ScreeningPolicy(mode=s.mode, fever_threshold_c=s.fever_threshold_c, unavailable=s.unavailable_policy)


def screening_problems(cfg: Config) -> list[str]:
    from gate.core.screening import rate_problems
    from gate.core.screening_policy import consistency_problems

    if cfg.screening.mode != "off" and not cfg.hardware.thermometer.enabled:
        return [f'screening.mode: is "{cfg.screening.mode}" but hardware.thermometer.enabled is false '
                '(every tap would be refused as screening_unavailable); set screening.mode = "off"']
    try:
        settings = screening_settings(cfg)
        policy = screening_policy(cfg)
    except ValueError as exc:
        return str(exc).splitlines()
    out = list(consistency_problems(settings, policy))
    if cfg.hardware.thermometer.enabled:
        out += rate_problems(settings, cfg.hardware.thermometer.sample_hz)
    return out


def keypad_settings(cfg: Config):
    from gate.core.keypad_entry import KeypadSettings

    k = cfg.keypad
    return KeypadSettings(entry_timeout_s=k.entry_timeout_seconds, min_pin_length=k.min_pin_length,
                          max_attempts=k.max_attempts, lockout_s=k.lockout_seconds,
                          lockout_max_s=k.lockout_max_seconds)


def keypad_problems(cfg: Config) -> list[str]:
    k = cfg.keypad
    out = []
    if k.lockout_max_seconds < k.lockout_seconds:
        out.append("keypad.lockout_max_seconds: must be at least keypad.lockout_seconds")
    if k.source == "gpio":
        g = k.gpio
        if len(g.keymap) != len(g.row_pins) or any(len(row) != len(g.col_pins) for row in g.keymap):
            out.append(f"keypad.gpio.keymap: must have one string per row ({len(g.row_pins)}) "
                       f"of one key per column ({len(g.col_pins)})")
        bad = sorted(set("".join(g.keymap)) - set("0123456789*#ABCD"))
        if bad:
            out.append(f"keypad.gpio.keymap: unknown key(s) {''.join(bad)!r}")
        used = {getattr(cfg.hardware.gpio, f.name): f.name for f in dataclasses.fields(cfg.hardware.gpio)
                if f.name.endswith("_pin")}
        for label, pins in (("row_pins", g.row_pins), ("col_pins", g.col_pins)):
            for pin in pins:
                if pin in used:
                    out.append(f"keypad.gpio.{label}: pin {pin} already used by hardware.gpio.{used[pin]}")
        if len(set(g.row_pins) | set(g.col_pins)) != len(g.row_pins) + len(g.col_pins):
            out.append("keypad.gpio: a pin appears twice among row_pins and col_pins")
    if k.source == "osdp" and cfg.hardware.mode == "pi" and not k.osdp.scbk_file:
        out.append("keypad.osdp.scbk_file: required on a real gate (the secure channel key, never in this file)")
    return out


def core_settings(cfg: Config) -> CoreSettings:
    return CoreSettings(
        screen_exits=cfg.screening.screen_exits,
        door=DoorSettings(
            unlock_seconds=cfg.lock.unlock_seconds,
            exit_unlock_seconds=cfg.door.exit_unlock_seconds,
            held_open_seconds=cfg.door.held_open_seconds,
            prealarm_seconds=cfg.door.prealarm_seconds,
            debounce_seconds=cfg.door.debounce_ms / 1000.0,
        )
    )


def feedback_problems(cfg: Config) -> list[str]:
    """[feedback]: the quiet-hours windows use the grammar of the rules' schedules."""
    from gate.rules.schedules import WeeklySchedule

    try:
        WeeklySchedule.parse(cfg.feedback.quiet_hours)
    except ValueError as exc:
        return [f"feedback.quiet_hours: {exc}"]
    return []
