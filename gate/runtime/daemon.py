"""The composition root: builds stores, hardware and core from the config, wires them, runs the loop.

Every input source posts events (stamped with the monotonic time they happened) onto one queue;
the main loop feeds them to the controller one at a time and ticks the timers.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from gpiozero.exc import GPIOZeroError

from gate.clock import Clock, SystemClock
from gate.config.schema import Config
from gate.config.checks import core_settings, keypad_settings, screening_policy, screening_settings
from gate.runtime.controller import Controller
from gate.core.machine import GateCore
from gate.core.events import CardPresented, DeviceHealth, DoorChanged, ExitPressed, FireChanged, KeyPressed, TamperChanged, TemperatureSample
from gate.runtime.hardware import Hardware
from gate.runtime.hardware_factory import build_hardware
from gate.runtime.keypad_state import restored_keypad_entry
from gate.store.journal import Journal
from gate.core.actions import Record
from gate.core.records import is_alarm
from gate.runtime.credential_guard import CredentialGuard
from gate.core.errors import GateError
from gate.store.guards import GuardStore
from gate.core.keypad_entry import KeypadEntry
from gate.core.keypad_flow import KeypadFlow
from gate.store.keypad_lockout import KeypadLockoutStore
from gate.store.passes import PassStore
from gate.runtime.pin_worker import PinChecker
from gate.runtime.receivers_setup import attach_receivers
from gate.runtime.rules_setup import build_rules
from gate.rules import quarantine_handler
from gate.rules import settings_from_config as rules_settings_from_config
from gate.core.uid import normalize_uid
from gate.core.screening import Screening
from gate.core.screening_flow import ScreeningGate

log = logging.getLogger("gate.daemon")

_STOP = object()


class HardwareError(GateError, OSError):
    """The devices could not be opened (pins, buses, serial port)."""


@dataclass(frozen=True)
class JournalNote:
    """A record from another thread (credential issued...) for the main loop to journal."""

    type: str
    fields: dict


def storage_paths(cfg: Config) -> dict[str, Path]:
    d = cfg.storage_dir
    return {"dir": d, "journal": d / "journal.db", "registry": d / "registry.db"}


class GateDaemon:
    """One gate: `start()`, then `run(stop_event)` on the main thread, then `close()`."""

    def __init__(self, cfg: Config, *, clock: Clock | None = None, pin_factory=None):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.pin_factory = pin_factory
        # SimpleQueue: put() is reentrant, so request_stop() is safe from a signal handler.
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.uplink = None
        self.credential_guard = None
        self.rfid_poller = None
        self.hardware: Hardware | None = None
        self.journal: Journal | None = None
        self.passes: PassStore | None = None
        self.controller: Controller | None = None
        self._closers: list = []
        self.ready = threading.Event()
        # Called on the main loop thread once per iteration (at least every 0.5 s): the systemd
        # watchdog ping, queued config reloads. A hook must be quick and must not raise.
        self.loop_hooks: list = [self._apply_pending_reloads]
        # (key prefixes, apply(new_cfg)): components that take a reloaded config (see gate.reload).
        self.reload_listeners: list = []
        self._pending_reloads: queue.SimpleQueue = queue.SimpleQueue()  # reentrant: safe from a signal handler

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        # The lock relay first, claimed at its safe (unpowered) level before any storage opens:
        # whatever a dead predecessor left on the line, and whether or not the stores open, the
        # line is safe from here on (docs/door-safety.md, "Start, stop, crash").
        self.hardware = self._claim_hardware()
        self._closers.append(self.hardware)
        paths = storage_paths(self.cfg)
        paths["dir"].mkdir(parents=True, exist_ok=True, mode=0o700)
        # recover: a damaged journal.db is set aside and replaced, never a reason not to start.
        self.journal = self._keep(Journal(paths["journal"], self.cfg.gate.id, clock=self.clock, recover=True))
        self.passes = self._keep(PassStore(paths["registry"]))
        self.credential_guard = None
        if self.cfg.credentials.enabled:
            self.credential_guard = CredentialGuard.from_file(self.cfg.path(self.cfg.credentials.site_key_file),
                                                              self.passes)
        hw = self.hardware
        screening = ScreeningGate(Screening(screening_settings(self.cfg), lock=threading.Lock()), screening_policy(self.cfg))
        osdp = self.cfg.keypad.osdp
        reader_roles = {osdp.name: osdp.reader_role} if self.cfg.keypad.source == "osdp" else None
        self.rules = self._keep(build_rules(self.cfg, self.passes, paths["dir"], reader_roles=reader_roles))
        self.reload_listeners.append((("rules.", "hardware.rfid.role"),
                                      lambda cfg: self.rules.apply_settings(rules_settings_from_config(cfg, reader_roles))))
        self.guards = self._keep(GuardStore(paths["registry"]))
        # No verify_pin: a '#' asks the controller to check the PIN on the worker (_check_pin).
        keypad = KeypadFlow(self._restored_keypad_entry(paths["registry"]))
        # After the guard store, so it closes first: a check in flight finishes before the store goes.
        self._pin_checker = self._keep(PinChecker(lambda pin: self.guards.verify(pin), self.post, self._now))
        core = GateCore(core_settings(self.cfg), self.rules, door_open=hw.door.is_active, screening=screening,
                        keypad=keypad)
        sinks = [hw.indicators.signal]
        if hw.osdp_panel is not None:
            sinks.append(self._osdp_feedback)
        self.controller = Controller(core, self.journal, lock=hw.lock, clock=self.clock, signal_sinks=sinks,
                                     pin_verifier=self._check_pin)
        hw.lock.engage()  # the core supervises the door now: locked (a maglock energises; a strike stays put)
        from gate.feedback.hub import RELOADABLE as FEEDBACK_KEYS, build_feedback  # prompts and display

        self.feedback = self._keep(build_feedback(self.cfg, self.clock, simulated=hw.simulator is not None,
                                                  keypad=hw.osdp_panel).start())
        self.controller.record_listeners.append(self.feedback.on_record)
        self.controller.signal_sinks.append(self.feedback.on_signal)
        self.reload_listeners.append((FEEDBACK_KEYS, self.feedback.apply))
        self.controller.record("daemon_started", {"mode": self.cfg.hardware.mode, "door": core.door.door_state})
        self._after_journal_open(core)
        self._wire_inputs(hw)
        self._start_rfid(hw)
        self._start_thermometer(hw)
        self._start_keypad(hw)
        self._start_uplink()
        self._keep(attach_receivers(self.cfg, self.controller, self.journal, clock=self.clock))  # DC-09, gate/runtime/receivers_setup.py
        self._register_commands()
        self._start_control(hw, paths["dir"])
        self.ready.set()
        log.info("gate %s ready (%s mode)", self.cfg.gate.id, self.cfg.hardware.mode)

    def _after_journal_open(self, core: GateCore) -> None:
        """A journal found damaged at open is a `device_fault device=journal` alarm (the gate keeps
        deciding on the fresh journal); a lockdown in force comes back from journal.state, whatever
        happened to journal.db or to its `lockdown` record (gate.store.seqmark)."""
        recovery = self.journal.recovery
        if recovery is not None:
            self.controller.process(DeviceHealth("journal", False, self._now(), recovery.describe()))
        elif self.journal.mark.damaged:
            self.controller.process(DeviceHealth("journal", False, self._now(),
                                                 f"{self.journal.mark.path.name} unreadable: the seq continues from "
                                                 "journal.db, lockdown from its newest lockdown record"))
        lockdown = self.journal.lockdown_state()
        if lockdown is not None and lockdown.on:
            self.controller.execute(core.restore_lockdown(lockdown.seq))

    def _journal_note(self, note: "JournalNote") -> None:
        """On the main loop: an alarm from another thread (storage_low) enters the alarm book (active
        alarms, status); a refused write holds it in the controller."""
        if is_alarm(note.type):
            stamped = self.controller.core.alarms.raised(Record(note.type, note.fields), self._now())
            self.controller.execute([stamped] if stamped is not None else [])
        else:
            self.controller.record(note.type, note.fields)

    def _restored_keypad_entry(self, registry: Path) -> KeypadEntry:
        """The keypad entry with the lockout state of the last run (gate.runtime.keypad_state)."""
        entry = KeypadEntry(keypad_settings(self.cfg))
        self._keypad_store = self._keep(KeypadLockoutStore(registry))
        self.loop_hooks.append(restored_keypad_entry(entry, self._keypad_store, self.clock))
        return entry

    def _claim_hardware(self) -> Hardware:
        try:
            return build_hardware(self.cfg, pin_factory=self.pin_factory, lock_engaged=False)
        except (GateError, OSError, RuntimeError, ImportError, ValueError, GPIOZeroError) as exc:
            hint = (' (not on a Raspberry Pi? try hardware.mode = "simulated"; `gatectl doctor` names the part)'
                    if self.cfg.hardware.mode == "pi" else "")
            raise HardwareError(f"hardware: cannot start the {self.cfg.hardware.mode} devices: "
                                f"{type(exc).__name__}: {exc}{hint}") from exc

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
        # The alarm book learns each alarm's journal seq (the station acknowledges alarms by seq).
        self.controller.record_listeners.append(self.controller.core.committed)
        # Inputs already active at start are reported, not ignored; the door's position is posted
        # again in case it moved between building the core and attaching the handler (a no-op if not).
        self.post(DoorChanged(hw.door.is_active, self._now()))
        if hw.fire.is_active:
            self.post(FireChanged(True, self._now()))
        if hw.tamper.is_active:
            self.post(TamperChanged(True, self._now()))

    def _start_rfid(self, hw: Hardware) -> None:
        if hw.rfid_reader is None:
            return
        from drivers.rfid_poller import RfidPoller

        r = self.cfg.hardware.rfid
        guard = self.credential_guard

        def on_tap(tap) -> None:
            credential_ok = guard.check(tap.uid_bytes, tap.credential) if guard else None
            self.post(CardPresented(tap.uid, self._now(), magic=tap.magic, credential_ok=credential_ok))

        poller = RfidPoller(
            hw.rfid_reader,
            on_tap=on_tap,
            on_fault=lambda detail: self.post(DeviceHealth("rfid", False, self._now(), detail)),
            on_recovered=lambda: self.post(DeviceHealth("rfid", True, self._now())),
            rate_hz=r.poll_hz,
            fault_threshold=r.fault_threshold,
            health_interval_s=r.health_interval_seconds,
            credential_key_for=guard.key_for if guard else None,
        )
        self.rfid_poller = poller
        # The poller stops before the reader closes (closers run in reverse).
        self._closers.append(poller)
        poller.start()

    def _start_control(self, hw: Hardware, storage_dir: Path) -> None:
        """The local control socket: sim actions on a simulated gate, credential issuing on any."""
        from gate.runtime.simcontrol import ControlServer, simulator_handlers

        handlers = {}
        if hw.simulator is not None:
            hw.simulator.state_provider = self._sim_state
            handlers.update(simulator_handlers(hw.simulator))
            handlers["display"] = self.feedback.sim_display
        if self.credential_guard is not None and hw.rfid_reader is not None:
            handlers["issue"] = self._issue_credential
        self._closers.append(ControlServer(storage_dir, handlers).start())

    def _sim_state(self) -> dict:
        state = self.controller.snapshot()
        state.update(self.feedback.sim_state())  # `prompt` and `display` (interface §8)
        if self.rfid_poller is not None:
            state["reader_holds"] = self.rfid_poller.card_in_field  # the tap the reader still counts as one
        if self.hardware.osdp_panel is not None:
            state["keypad_online"] = bool(self.hardware.osdp_panel.is_online)
        return state

    def _issue_credential(self, card: str) -> dict:
        result = self.credential_guard.issue(self.hardware.rfid_reader, normalize_uid(card))
        self.post(JournalNote("credential_issued", {"card": result["card"]}))
        return result

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

    def _start_keypad(self, hw: Hardware) -> None:
        """Keys from every keypad feed one stream; an OSDP peripheral's card reads are taps like any
        other, its tamper switch a tamper alarm, its link a supervised device."""
        sink = hw.keypad_sink
        if sink is None:
            return
        sink.on_key = lambda key, source: self.post(KeyPressed(key, self._now(), source))
        sink.on_card = lambda uid, reader: self.post(
            CardPresented(uid, self._now(), reader=reader, credential_ok=self._uid_only_credential(reader)))
        sink.on_tamper = lambda on, device: self.post(TamperChanged(on, self._now(), device))
        sink.on_link = lambda up, device: self.post(
            DeviceHealth(device, up, self._now(), "" if up else "OSDP peripheral not answering"))
        for device in (hw.osdp_panel, hw.matrix_keypad):
            if device is not None:
                device.start()

    def _check_pin(self, request_id: int) -> None:
        """Controller callback on the main loop thread: take the PIN out of the core's keypad entry
        here (the core is never touched from another thread) and hash it on the worker."""
        pin = self.controller.core.keypad.entry.pin_for(request_id)
        if pin is not None:
            self._pin_checker.submit(request_id, pin)

    def _uid_only_credential(self, reader: str) -> bool | None:
        """A reader that delivers only the UID cannot prove a card genuine: with the cloned-card
        defence on it may grant only if the installer listed it in credentials.uid_only_readers."""
        if self.credential_guard is None or reader in self.cfg.credentials.uid_only_readers:
            return None
        return False

    def _osdp_feedback(self, pattern: str) -> None:
        from firmware_bridge.osdp_panel import FEEDBACK_PATTERNS

        if pattern in FEEDBACK_PATTERNS:
            self.hardware.osdp_panel.send_feedback(pattern)

    # --- uplink (MQTT to the station) -----------------------------------------------------------
    def _start_uplink(self) -> None:
        """Retention (always) and, with mqtt.enabled, the MQTT uplink: a record listener on the
        controller, with the built-in command actions. `self.uplink` is None without MQTT; other
        features add actions with `self.uplink.register_command(action, handler)`."""
        from gate.store.retention import Retention
        from gate.runtime.uplink_setup import build_uplink, retention_policy

        self.uplink = None
        # Command outcomes and storage alarms are journaled from background threads, so they go to
        # the (thread-safe) journal directly; the uplink is woken by its own record sink.
        # Storage alarms go through the main loop (the core's alarm book; held in memory while the
        # disk refuses them); a failed journal write wakes a retention pass (is the disk full?).
        retention = Retention(self.journal, retention_policy(self.cfg),
                              record=lambda t, f: self.post(JournalNote(t, f)))
        self.journal.write_error_listeners.append(retention.wake)
        if self.cfg.mqtt.enabled:
            self.uplink = build_uplink(
                self.cfg, self.journal, clock=self.clock, post=self.post, passes=self.passes,
                snapshot=self.controller.snapshot, note=lambda t, f: self.post(JournalNote(t, f)),
            )
            self.controller.record_listeners.append(self.uplink.on_record)
            self._closers.append(self.uplink.start())
        self._closers.append(retention.start())

    def _register_commands(self) -> None:
        """Station actions beyond the uplink's built-in ones."""
        if self.uplink is None:
            return
        from gate.uplink.remote_actions import ack_handler

        self.uplink.register_command("quarantine", quarantine_handler(self.passes, self.rules.households, self.clock,
                                                                      ZoneInfo(self.cfg.gate.timezone)))
        # Officers acknowledge alarms by seq (the console's `ack`); the core journals alarm_acknowledged.
        self.uplink.register_command("ack", ack_handler(self.post, self.clock, self.controller.snapshot,
                                                        self.journal.get))

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
            try:
                if isinstance(event, JournalNote):
                    self._journal_note(event)
                elif event is not None:
                    self.controller.process(event)
                self.controller.tick()
            except Exception:
                # One bad event (a storage error inside a rule, a driver bug) must not stop the gate:
                # the lock stays as it is, the error is logged and journaled when the disk allows.
                log.exception("event %r failed", event)
                self._note_internal_error(event)
            for hook in self.loop_hooks:
                hook()

    def _note_internal_error(self, event) -> None:
        try:
            self.controller.record("internal_error", {"event": type(event).__name__})
        except Exception:
            log.exception("could not journal the internal error")

    def request_stop(self) -> None:
        self.events.put(_STOP)

    def close(self) -> None:
        """Drop the lock relay first, then journal the stop and close everything else. Safe twice.

        The relay goes before the uplink's flush, the OSDP panel's join and the stores: with a
        frozen broker those take seconds, and a grant still running must not outlast the stop."""
        closers, self._closers = self._closers, []
        if closers:
            self._drop_relay()
        if self.controller is not None and self.journal is not None and closers:
            self.controller.record("daemon_stopped", {"lock": self.hardware.lock.safe_state if self.hardware else None})
        for resource in reversed(closers):
            try:
                resource.close()
            except Exception:
                log.exception("closing %r failed", resource)

    def _drop_relay(self) -> None:
        if self.hardware is None:
            return
        lock = self.hardware.lock
        try:
            lock.close()
        except Exception:
            log.exception("could not de-energise the lock relay")
            return
        log.info("stopping: lock relay de-energised first (lock %s)", lock.safe_state)

    # --- reload (SIGHUP) -------------------------------------------------------------------------
    def reload(self, new_cfg):
        """Queue a new config (a Config, or a path to load there) for the main loop thread, which
        applies it within 0.5 s (see gate.reload). Safe from a signal handler. Returns a
        concurrent.futures.Future of a gate.reload.ReloadResult."""
        from concurrent.futures import Future

        future: Future = Future()
        self._pending_reloads.put((new_cfg, future))
        return future

    def _apply_pending_reloads(self) -> None:
        from gate.runtime.reload import apply_reload

        while True:
            try:
                new_cfg, future = self._pending_reloads.get_nowait()
            except queue.Empty:
                return
            try:
                result = apply_reload(self, new_cfg)
            except Exception as exc:  # a failed reload must not stop the gate
                log.exception("reload failed")
                future.set_exception(exc)
            else:
                future.set_result(result)
