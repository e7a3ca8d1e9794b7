"""Simulated hardware: the real drivers over emulated buses, and the actions `gatectl sim` drives.

GPIO parts run on gpiozero MockFactory pins; the RFID reader is the real mfrc522-based driver over
an emulated MFRC522 behind fake spidev/RPi.GPIO modules.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from gpiozero.pins.mock import MockFactory, MockPWMPin

from gate.config.schema import Config
from gate.core.errors import InputError
from gate.runtime.hardware import Hardware, build_gpio_parts, close_opened
from gate.runtime.keypad_hw import build_keypad
from gate.runtime.sim_faults import apply_simulated_faults
from gate.core.uid import normalize_uid

log = logging.getLogger("gate.simulator")


class SimulationError(InputError):
    """A sim action that cannot be done (unknown action, bad argument, device not fitted)."""


class Simulator:
    """Acts on the emulated hardware the way a person at the gate would."""

    def __init__(self, cfg: Config, factory: MockFactory, rfid_emulator=None):
        self.cfg = cfg
        self.factory = factory
        self.rfid = rfid_emulator
        self.thermometer = None  # EmulatedMlx90614 when fitted
        self.keypad: Any = None  # an object with press_keys(str) when fitted
        self.state_provider: Callable[[], dict] = lambda: {}
        self._timers: list[threading.Timer] = []
        self._wallet: dict[str, object] = {}  # one EmulatedCard per UID, so what is written on it stays
        self._lock = threading.Lock()
        g = cfg.hardware.gpio
        self._pins = {name: factory.pin(getattr(g, f"{name}_pin")) for name in ("door", "exit", "fire", "tamper", "lock")}

    def idle_inputs(self) -> None:
        """Put every input in its idle level: door closed, exit released, no fire, enclosure shut."""
        g = self.cfg.hardware.gpio
        self._drive("door", g.door_open_is_high is False)  # door closed
        self._drive("exit", True)
        self._drive("fire", True)
        self._drive("tamper", False)

    def _drive(self, name: str, high: bool) -> None:
        pin = self._pins[name]
        if high:
            pin.drive_high()
        else:
            pin.drive_low()

    # --- actions (interface §3) ----------------------------------------------------------------
    def tap(self, uid: str, hold: float = 0.5, card: str = "genuine", with_uid: str | None = None,
            fault: str | None = None) -> dict:
        """A card enters the field for `hold` seconds.

        card: "genuine" (the resident's own card, keeping what was written on it), "clone" (same UID,
        blank sectors), "magic" (a full copy on a Gen1a backdoor card); with_uid: a second card in the
        field at once (collision); fault: "crc", "parity", "garble" or "leave" (pulled away mid-read).
        """
        if self.rfid is None:
            raise SimulationError("tap: this gate has no RFID reader (hardware.rfid.enabled = false)")
        if not 0.05 <= hold <= 3600:
            raise SimulationError(f"tap: --hold must be between 0.05 and 3600 seconds, got {hold}")
        cards = [self._card(normalize_uid(uid), card)]
        if with_uid:
            cards.append(self._card(normalize_uid(with_uid), "genuine"))
        if fault in ("crc", "parity", "garble"):
            self.rfid.inject(fault)
        elif fault == "leave":
            self.rfid.leave_after(1)
        elif fault is not None:
            raise SimulationError(f"tap: --fault must be crc, parity, garble or leave, got {fault!r}")
        self.rfid.present(*cards)
        timer = threading.Timer(hold, self._cards_leave, args=(cards,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()
        return {"card": cards[0].uid.hex().upper(), "hold": hold, "kind": card}

    def _card(self, uid_hex: str, kind: str):
        from drivers.mfrc522_emu import EmulatedCard

        with self._lock:
            genuine = self._wallet.get(uid_hex)
            if genuine is None:
                genuine = self._wallet[uid_hex] = EmulatedCard(bytes.fromhex(uid_hex))
        if kind == "genuine":
            return genuine
        if kind == "clone":
            return genuine.clone()
        if kind == "magic":
            return genuine.clone(magic_gen1a=True, copy_blocks=True)
        raise SimulationError(f"tap: --card must be genuine, clone or magic, got {kind!r}")

    def _cards_leave(self, cards) -> None:
        for card in cards:
            self.rfid.remove(card)

    def reader(self, state: str) -> dict:
        """The reader chip: "absent" (MISO reads 0x00), "absent-ff" (reads 0xFF), "present", "reset"."""
        if self.rfid is None:
            raise SimulationError("reader: this gate has no RFID reader")
        if state == "absent":
            self.rfid.set_absent(0x00)
        elif state == "absent-ff":
            self.rfid.set_absent(0xFF)
        elif state == "present":
            self.rfid.set_absent(None)
        elif state == "reset":
            self.rfid.chip_reset()
        else:
            raise SimulationError(f"reader: expected absent, absent-ff, present or reset, got {state!r}")
        return {"reader": state}

    def door(self, position: str) -> dict:
        if position not in ("open", "close", "closed"):
            raise SimulationError(f"door: expected 'open' or 'close', got {position!r}")
        opening = position == "open"
        self._drive("door", opening == self.cfg.hardware.gpio.door_open_is_high)
        return {"door": "open" if opening else "closed"}

    def exit(self) -> dict:
        self._drive("exit", False)
        self._drive("exit", True)
        return {"exit": "pressed"}

    def fire(self, on: str) -> dict:
        self._drive("fire", not _on_off("fire", on))
        return {"fire": on}

    def tamper(self, on: str) -> dict:
        self._drive("tamper", _on_off("tamper", on))
        return {"tamper": on}

    def temp(self, value: str) -> dict:
        if self.thermometer is None:
            raise SimulationError("temp: this gate has no thermometer (hardware.thermometer.enabled = false)")
        if value == "none":
            self.thermometer.object_c = None
            return {"temp": None}
        try:
            celsius = float(value)
        except ValueError:
            raise SimulationError(f"temp: expected degrees Celsius or 'none', got {value!r}") from None
        if not -40 <= celsius <= 125:
            raise SimulationError(f"temp: {celsius} °C is outside the sensor's range (-40..125)")
        self.thermometer.object_c = celsius
        return {"temp": celsius}

    def keys(self, keys: str) -> dict:
        if self.keypad is None:
            raise SimulationError("keys: this gate has no keypad configured")
        bad = [k for k in keys if k not in "0123456789*#"]
        if bad:
            raise SimulationError(f"keys: only 0-9, * and # can be pressed, got {''.join(bad)!r}")
        self.keypad.press_keys(keys)
        return {"keys": keys}

    def keypad_line(self, state: str) -> dict:
        """The OSDP keypad's cable: "unplug", "replug"; its tamper switch: "tamper-on", "tamper-off";
        its card reader: "card=UID"."""
        pd = self.keypad
        if pd is None or not hasattr(pd, "unplug"):
            raise SimulationError("keypad: this gate has no OSDP keypad (keypad.source = \"osdp\")")
        actions = {"unplug": pd.unplug, "replug": pd.replug,
                   "tamper-on": lambda: pd.set_tamper(True), "tamper-off": lambda: pd.set_tamper(False)}
        if state.startswith("card="):
            uid = normalize_uid(state.split("=", 1)[1])
            pd.present_card(uid)
            return {"keypad": "card", "card": uid}
        if state not in actions:
            raise SimulationError(f"keypad: expected one of {', '.join(actions)}, got {state!r}")
        actions[state]()
        return {"keypad": state}

    def state(self) -> dict:
        state = dict(self.state_provider())
        state["relay_energised"] = bool(self._pins["lock"].state) == self.cfg.hardware.gpio.lock_relay_active_high
        if self.rfid is not None:
            state["cards_in_field"] = [card.uid.hex().upper() for card in self.rfid.cards]
        return state

    def close(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for t in timers:
            t.cancel()


def _on_off(action: str, value: str) -> bool:
    if value not in ("on", "off"):
        raise SimulationError(f"{action}: expected 'on' or 'off', got {value!r}")
    return value == "on"


def build_simulated_hardware(cfg: Config, *, pin_factory=None, lock_engaged: bool = True) -> Hardware:
    """Drivers over emulated buses. The inputs start idle before anything listens to them. The lock
    pin is a retained line (gate.runtime.sim_relay_line): it outlives the process, as on a Pi."""
    from gate.runtime.sim_relay_line import attach_retained_lock_line

    factory = pin_factory or MockFactory(pin_class=MockPWMPin)
    opened: list = []
    try:
        attach_retained_lock_line(factory, cfg.hardware.gpio.lock_pin, cfg.storage_dir)
        parts = build_gpio_parts(cfg, factory, opened, lock_engaged=lock_engaged)
        hw = Hardware(**parts, pin_factory=factory)
        emulator = None
        if cfg.hardware.rfid.enabled:
            from drivers.mfrc522_emu import Mfrc522Emulator
            from drivers.pi_fakes import attach_spi_device, install_fake_pi_modules

            install_fake_pi_modules()
            emulator = Mfrc522Emulator()
            r = cfg.hardware.rfid
            attach_spi_device(r.spi_bus, r.spi_device, emulator, rst_pin=r.rst_pin)
            from drivers.rfid import RfidReader

            hw.rfid_reader = RfidReader(r.spi_bus, r.spi_device, rst_pin=r.rst_pin)
            opened.append(hw.rfid_reader)
        sim = Simulator(cfg, factory, emulator)
        if cfg.hardware.thermometer.enabled:
            from drivers.mlx90614 import Mlx90614
            from drivers.mlx90614_emu import EmulatedMlx90614

            t = cfg.hardware.thermometer
            sim.thermometer = EmulatedMlx90614(t.address)
            hw.thermometer = Mlx90614(sim.thermometer, t.address, retries=t.retries)
            opened.append(hw.thermometer)
        hw.simulator = sim
        hw.extra.append(sim)
        build_keypad(cfg, hw, factory, opened)
        sim.idle_inputs()
        apply_simulated_faults(hw, cfg)
        return hw
    except Exception:
        close_opened(opened)
        raise
