"""The composition root: builds stores, hardware and core from the config, wires them, runs the loop.

Every input source posts events (stamped with the monotonic time they happened) onto one queue;
the main loop feeds them to the controller one at a time and ticks the timers.
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from .clock import Clock, SystemClock
from .config import Config, screening_policy, screening_settings
from .controller import Controller
from .access import PassRules
from .core import CoreSettings, GateCore
from .door import DoorSettings
from .events import (
    CardPresented,
    DeviceHealth,
    DoorChanged,
    ExitPressed,
    FireChanged,
    TamperChanged,
    TemperatureSample,
)
from .hardware import Hardware, build_hardware
from .journal import Journal
from .passes import PassStore
from .screening import Screening
from .screening_flow import ScreeningGate

log = logging.getLogger("gate.daemon")

_STOP = object()


def storage_paths(cfg: Config) -> dict[str, Path]:
    d = cfg.storage_dir
    return {"dir": d, "journal": d / "journal.db", "registry": d / "registry.db"}


def core_settings(cfg: Config) -> CoreSettings:
    return CoreSettings(
        door=DoorSettings(
            unlock_seconds=cfg.lock.unlock_seconds,
            exit_unlock_seconds=cfg.door.exit_unlock_seconds,
            held_open_seconds=cfg.door.held_open_seconds,
            prealarm_seconds=cfg.door.prealarm_seconds,
            debounce_seconds=cfg.door.debounce_ms / 1000.0,
        )
    )


class GateDaemon:
    """One gate: `start()`, then `run(stop_event)` on the main thread, then `close()`."""

    def __init__(self, cfg: Config, *, clock: Clock | None = None, pin_factory=None):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.pin_factory = pin_factory
        self.events: queue.Queue = queue.Queue()
        self.hardware: Hardware | None = None
        self.journal: Journal | None = None
        self.passes: PassStore | None = None
        self.controller: Controller | None = None
        self._closers: list = []
        self.ready = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        paths = storage_paths(self.cfg)
        paths["dir"].mkdir(parents=True, exist_ok=True)
        self.journal = self._keep(Journal(paths["journal"], self.cfg.gate.id, clock=self.clock))
        self.passes = self._keep(PassStore(paths["registry"]))
        self.hardware = build_hardware(self.cfg, pin_factory=self.pin_factory)
        self._closers.append(self.hardware)
        hw = self.hardware
        screening = ScreeningGate(Screening(screening_settings(self.cfg)), screening_policy(self.cfg))
        core = GateCore(core_settings(self.cfg), PassRules(self.passes), door_open=hw.door.is_active,
                        screening=screening)
        self.controller = Controller(
            core, self.journal, lock=hw.lock, clock=self.clock, signal_sinks=[hw.indicators.signal]
        )
        self.controller.record("daemon_started", {"mode": self.cfg.hardware.mode, "door": core.door.door_state})
        self._wire_inputs(hw)
        self._start_rfid(hw)
        self._start_thermometer(hw)
        self._start_uplink()
        if hw.simulator is not None:
            from .simcontrol import SimControlServer

            hw.simulator.state_provider = self.controller.snapshot
            self._closers.append(SimControlServer(paths["dir"], hw.simulator).start())
        self.ready.set()
        log.info("gate %s ready (%s mode)", self.cfg.gate.id, self.cfg.hardware.mode)

    def _keep(self, resource):
        self._closers.append(resource)
        return resource

    def post(self, event) -> None:
        """Thread-safe: queue an input event for the main loop."""
        self.events.put(event)

    def _now(self) -> float:
        return self.clock.monotonic()

    def _wire_inputs(self, hw: Hardware) -> None:
        hw.door.on_change = lambda active: self.post(DoorChanged(active, self._now()))
        hw.exit_button.on_change = lambda active: active and self.post(ExitPressed(self._now()))
        hw.fire.on_change = lambda active: self.post(FireChanged(active, self._now()))
        hw.tamper.on_change = lambda active: self.post(TamperChanged(active, self._now()))
        # Inputs already active at start are reported, not ignored.
        if hw.fire.is_active:
            self.post(FireChanged(True, self._now()))
        if hw.tamper.is_active:
            self.post(TamperChanged(True, self._now()))

    def _start_rfid(self, hw: Hardware) -> None:
        if hw.rfid_reader is None:
            return
        from drivers.rfid_poller import RfidPoller

        r = self.cfg.hardware.rfid
        poller = RfidPoller(
            hw.rfid_reader,
            on_tap=lambda tap: self.post(CardPresented(tap.uid, self._now(), magic=tap.magic)),
            on_fault=lambda detail: self.post(DeviceHealth("rfid", False, self._now(), detail)),
            on_recovered=lambda: self.post(DeviceHealth("rfid", True, self._now())),
            rate_hz=r.poll_hz,
            fault_threshold=r.fault_threshold,
            health_interval_s=r.health_interval_seconds,
        )
        # The poller stops before the reader closes (closers run in reverse).
        self._closers.append(poller)
        poller.start()

    def _start_thermometer(self, hw: Hardware) -> None:
        if hw.thermometer is None:
            return
        from drivers.thermo_sampler import ThermometerSampler

        t = self.cfg.hardware.thermometer
        sampler = ThermometerSampler(
            hw.thermometer,
            on_sample=lambda o, a: self.post(TemperatureSample(o, a, self._now())),
            on_fault=lambda detail: self.post(DeviceHealth("thermometer", False, self._now(), detail)),
            on_recovered=lambda: self.post(DeviceHealth("thermometer", True, self._now())),
            rate_hz=t.sample_hz,
            fault_threshold=t.fault_threshold,
            stuck_samples=t.stuck_samples,
        )
        self._closers.append(sampler)  # closes before the sensor (closers run in reverse)
        sampler.start()

    # --- uplink (MQTT to the station) -----------------------------------------------------------
    def _start_uplink(self) -> None:
        """Owned by the uplink work (issue 5): build the MQTT uplink, register it as a record
        listener on the controller, register command handlers, add it to self._closers."""
        return None

    # --- main loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Process events until `stop` is set (or `request_stop()` is called)."""
        assert self.controller is not None, "start() first"
        while not stop.is_set():
            deadline = self.controller.core.next_deadline()
            timeout = 0.5
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - self._now()))
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                event = None
            if event is _STOP:
                break
            if event is not None:
                self.controller.process(event)
            self.controller.tick()

    def request_stop(self) -> None:
        self.events.put(_STOP)

    def close(self) -> None:
        """Stop sources, journal the stop, engage the lock, close stores. Safe twice."""
        closers, self._closers = self._closers, []
        if self.controller is not None and self.journal is not None and closers:
            self.controller.record("daemon_stopped", {})
        for resource in reversed(closers):
            try:
                resource.close()
            except Exception:
                log.exception("closing %r failed", resource)
