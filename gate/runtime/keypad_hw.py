"""Building the guard keypad for the hardware factory: an OSDP peripheral (a real one on RS-485, or
the emulated one on a pty in simulation) or a GPIO matrix keypad. Its callbacks go to a `KeypadSink`
that the daemon points at its event queue once the core is ready."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from gate.config.schema import Config
from gate.core.errors import ConfigError


class KeypadSink:
    """Where keypad-side events go. Each attribute is set by the daemon; until then events are dropped
    (nothing can act on them before the core exists)."""

    def __init__(self):
        self.on_key: Callable[[str, str], None] | None = None  # (key, source)
        self.on_card: Callable[[str, str], None] | None = None  # (uid, reader name)
        self.on_tamper: Callable[[bool, str], None] | None = None  # (active, device)
        self.on_link: Callable[[bool, str], None] | None = None  # (online, device)

    def _call(self, name: str, *args) -> None:
        target = getattr(self, name)
        if target is not None:
            target(*args)


def _scbk(cfg: Config) -> bytes | None:
    from firmware_bridge.osdp_panel import load_scbk

    o = cfg.keypad.osdp
    if o.scbk_file:
        try:
            return load_scbk(cfg.path(o.scbk_file))
        except ValueError as exc:
            raise ConfigError([f"keypad.osdp.scbk_file: {exc}"]) from None
    if cfg.hardware.mode == "simulated":
        return os.urandom(16)  # a fresh key per run: the secure channel is still exercised
    return None


def build_osdp(cfg: Config, sink: KeypadSink, storage_dir: Path, opened: list):
    """(panel, emulator or None). The panel is not started: the daemon starts it once wired."""
    from firmware_bridge.osdp_panel import OsdpPanel

    o = cfg.keypad.osdp
    key = _scbk(cfg)
    emulator, port = None, o.port
    if cfg.hardware.mode == "simulated":
        from firmware_bridge.pd_emulator import open_emulated_keypad

        emulator, port = open_emulated_keypad(storage_dir / "osdp-keypad", pd_address=o.address, scbk=key)
        opened.append(emulator)
    panel = OsdpPanel(
        port, baud=o.baud, pd_address=o.address, scbk=key, name=o.name,
        on_key=lambda k: sink._call("on_key", k, o.name),
        on_card=lambda uid: sink._call("on_card", uid, o.name),
        on_tamper=lambda on: sink._call("on_tamper", on, o.name),
        on_link=lambda up: sink._call("on_link", up, o.name),
        offline_after_s=o.offline_after_seconds,
    )
    opened.append(panel)
    return panel, emulator


class SimulatedMatrixTyping:
    """`gatectl sim keys` on a GPIO matrix keypad: closes each key's switch on the mock pins."""

    def __init__(self, factory, cfg: Config):
        self.factory, self.g = factory, cfg.keypad.gpio

    def press_keys(self, keys: str) -> None:
        from drivers.matrix_keypad import tap_keys

        # Hold and gap well above the keypad's debounce (2 scans) at its scan rate.
        hold = max(0.05, 4.0 / self.g.scan_hz)
        tap_keys(self.factory, self.g.row_pins, self.g.col_pins, keys, self.g.keymap, hold_s=hold, gap_s=hold)


def build_matrix(cfg: Config, sink: KeypadSink, pin_factory, opened: list):
    from drivers.matrix_keypad import MatrixKeypad

    g = cfg.keypad.gpio
    keypad = MatrixKeypad(g.row_pins, g.col_pins, g.keymap, on_key=lambda k: sink._call("on_key", k, "gpio-keypad"),
                          pin_factory=pin_factory, scan_hz=g.scan_hz)
    opened.append(keypad)
    return keypad


def build_keypad(cfg: Config, hw, pin_factory, opened: list) -> None:
    """Fit the configured keypad onto `hw` (keypad_sink, osdp_panel / matrix_keypad, simulator.keypad)."""
    hw.keypad_sink = KeypadSink()
    source = cfg.keypad.source
    if source == "osdp":
        hw.osdp_panel, emulator = build_osdp(cfg, hw.keypad_sink, cfg.storage_dir, opened)
        if emulator is not None:
            hw.simulator.keypad = emulator
            hw.extra.append(emulator)  # closed after the panel
    elif source == "gpio":
        hw.matrix_keypad = build_matrix(cfg, hw.keypad_sink, pin_factory, opened)
        if hw.simulator is not None:
            hw.simulator.keypad = SimulatedMatrixTyping(pin_factory, cfg)
