"""`gatectl doctor -c CONFIG [--actuate] [--json]`: check every configured part, print one table.

Run it with the daemon stopped on a Pi (the daemon holds the pins and buses):
    sudo systemctl stop gate && sudo -u gate /opt/gate/venv/bin/gatectl doctor -c /etc/gate/gate.toml
In simulation (`hardware.mode = "simulated"`) it builds its own emulated hardware in this process, so
it never touches a running simulated daemon; `[hardware.simulation]` faults apply as in the daemon.
Exit status: 0 when no check FAILs (WARN and SKIP do not fail), 1 otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from typing import Any, Iterable

from gate.config.schema import Config, load_config
from gate.cli.doctor_checks import FAIL, PASS, SKIP, WARN, CheckResult, check_broker, check_transport, check_gpio_pins, check_inputs_idle, check_relay, check_rfid, check_secrets, check_storage, check_thermometer, probe_osdp
from gate.cli.doctor_feedback import feedback_checks
from gate.core.errors import ConfigError

log = logging.getLogger("gate.doctor")

COLUMNS = ("check", "result", "detail", "hint")


def check_config(path: str) -> tuple[CheckResult, Config | None]:
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        missing = [line.split("gatectl secret ", 1)[1].rstrip(")") for line in exc.problems
                   if "(create it with: gatectl secret " in line]
        hint = (f"gatectl secret {missing[0]}" if len(exc.problems) == 1 and missing
                else f"gatectl check-config {path}")
        return CheckResult("config", FAIL, "; ".join(exc.problems), hint), None
    return CheckResult("config", PASS, f"{path} valid ({cfg.hardware.mode} mode, gate {cfg.gate.id})"), cfg


class _Parts:
    """The devices the doctor opened: each is the device, the exception opening it raised, or None."""

    def __init__(self) -> None:
        self.gpio: Any = None
        self.rfid: Any = None
        self.thermometer: Any = None
        self._closers: list = []

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for dev in reversed(closers):
            try:
                dev.close()
            except Exception:
                log.exception("closing %r failed", dev)


def _open_simulated(cfg: Config, parts: _Parts) -> None:
    from gate.runtime.hardware_factory import build_hardware
    from gate.runtime.sim_faults import apply_simulated_faults

    try:
        hw = build_hardware(cfg)
    except Exception as exc:
        parts.gpio = parts.rfid = parts.thermometer = exc
        return
    parts._closers.append(hw)
    # Idempotent: build_simulated_hardware applies the same faults; the doctor must see them either way.
    apply_simulated_faults(hw, cfg)
    parts.gpio, parts.rfid, parts.thermometer = hw, hw.rfid_reader, hw.thermometer


def _open_pi(cfg: Config, parts: _Parts) -> None:
    """Each part on its own, so one broken part does not hide the state of the others."""
    from gate.runtime.hardware import Hardware, build_gpio_parts

    opened: list = []
    try:
        parts.gpio = Hardware(**build_gpio_parts(cfg, None, opened))
        parts._closers.append(parts.gpio)
    except Exception as exc:
        for dev in reversed(opened):
            with contextlib.suppress(Exception):
                dev.close()
        parts.gpio = exc
    r, t = cfg.hardware.rfid, cfg.hardware.thermometer
    if r.enabled:
        try:
            from drivers.rfid import RfidReader

            parts.rfid = RfidReader(r.spi_bus, r.spi_device, rst_pin=r.rst_pin)
            parts._closers.append(parts.rfid)
        except Exception as exc:
            parts.rfid = exc
    if t.enabled:
        try:
            from drivers.mlx90614 import Mlx90614

            parts.thermometer = Mlx90614.open_bus(t.i2c_bus, t.address, retries=t.retries)
            parts._closers.append(parts.thermometer)
        except Exception as exc:
            parts.thermometer = exc


def run_checks(config_path: str, *, actuate: bool = False, broker_timeout: float = 5.0) -> list[CheckResult]:
    """Every check, in wiring order. Devices are opened once and closed (lock engaged) at the end."""
    first, cfg = check_config(config_path)
    if cfg is None:
        return [first]
    results = [first, check_storage(cfg), check_secrets(cfg)]
    parts = _Parts()
    try:
        (_open_simulated if cfg.hardware.mode == "simulated" else _open_pi)(cfg, parts)
        spacing = 0.0 if cfg.hardware.mode == "simulated" else 1.0 / cfg.hardware.thermometer.sample_hz
        results += [
            check_gpio_pins(cfg, parts.gpio),
            check_inputs_idle(cfg, parts.gpio),
            check_relay(cfg, parts.gpio, actuate=actuate),
            check_rfid(cfg, parts.rfid),
            check_thermometer(cfg, parts.thermometer, spacing_s=spacing),
        ]
        if cfg.hardware.mode == "simulated":  # the emulated peripheral lives with the simulated parts
            results.append(check_osdp(cfg, parts.gpio))
    finally:
        parts.close()
    if cfg.hardware.mode == "pi":
        results.append(check_osdp(cfg))
    results.append(check_transport(cfg))
    results += feedback_checks(cfg)
    results.append(check_broker(cfg, timeout=broker_timeout))
    return results


def check_osdp(cfg: Config, hw: Any = None, *, timeout: float = 5.0) -> CheckResult:
    """The OSDP keypad (keypad.source = "osdp"): on a Pi the real line is probed (the daemon must be
    stopped: two panels cannot share it); in simulation the emulated peripheral on its pty."""
    name = "osdp peripheral"
    if cfg.keypad.source != "osdp":
        return CheckResult(name, SKIP, f"no OSDP keypad configured (keypad.source = {cfg.keypad.source!r})")
    o = cfg.keypad.osdp
    if cfg.hardware.mode == "pi":
        from firmware_bridge.osdp_panel import load_scbk

        try:
            scbk = load_scbk(cfg.path(o.scbk_file)) if o.scbk_file else None
        except ValueError as exc:
            return CheckResult(name, FAIL, str(exc), "keypad.osdp.scbk_file: 32 hex digits, mode 0600")
        return probe_osdp(o.port, baud=o.baud, pd_address=o.address, scbk=scbk, timeout=timeout, name=name)
    panel = getattr(hw, "osdp_panel", None)
    if panel is None:
        return CheckResult(name, FAIL, "the simulated keypad could not be built", "see the gpio pins row")
    panel.start()
    deadline = time.monotonic() + timeout
    while not (panel.is_online and panel.is_secure) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a link coming up, bounded by the deadline
    if not panel.is_online:
        return CheckResult(name, FAIL, f"emulated keypad (PD address {o.address}): no answer within {timeout:g} s")
    return CheckResult(name, PASS, f"emulated keypad (PD address {o.address}): online, "
                       + ("secure channel up" if panel.is_secure else "in clear"))


def format_table(results: Iterable[CheckResult]) -> str:
    rows = [COLUMNS] + [(r.check, r.result, r.detail, r.hint) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) for c in range(3)] + [row[3]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ----")
    return "\n".join(lines)


def exit_code(results: Iterable[CheckResult]) -> int:
    return 1 if any(r.result == FAIL for r in results) else 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `doctor` on gatectl's subparsers."""
    p = sub.add_parser("doctor", help="check every configured part and print what is wired wrong")
    p.add_argument("-c", "--config", required=True, metavar="CONFIG", help="the gate's TOML config")
    p.add_argument("--actuate", action="store_true", help="also click the lock relay (releases the lock 0.5 s)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {check, result, detail, hint}")
    p.add_argument("--broker-timeout", type=float, default=5.0, help="seconds to wait for the broker (default 5)")
    p.set_defaults(func=cmd_doctor)
    return p


def cmd_doctor(args) -> int:
    results = run_checks(args.config, actuate=args.actuate, broker_timeout=args.broker_timeout)
    for r in results:  # loud, on stderr too; a WARN does not change the exit status
        if r.result == WARN:
            print(f"warning: {r.check}: {r.detail}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=1))
    else:
        print(format_table(results))
        failed = [r.check for r in results if r.result == FAIL]
        print(f"\n{len(failed)} failed: {', '.join(failed)}" if failed else "\nall checks passed")
    return exit_code(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatectl")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["doctor", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.ERROR)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
