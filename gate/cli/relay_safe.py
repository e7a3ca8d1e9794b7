"""`gatectl relay-safe -c CONFIG`: drive the lock relay's coil off (the lock's safe state) and exit.

systemd runs it before every start (`ExecStartPre=`) and after every stop (`ExecStopPost=`, which
also runs after SIGKILL, an OOM kill or a watchdog abort): a daemon that died without closing its
pin leaves the line where it was (docs/door-safety.md), and this puts it at the unpowered level
until the next daemon claims it. It refuses while a daemon answers on the control socket (it would
take the line from under a running gate). In simulation it drives the retained simulated line
(`storage.dir/sim-relay.log`). Exit 0 when the line is at the safe level, 1 when it could not be
driven or a daemon is running, 2 for a bad config.
"""
from __future__ import annotations

import socket
from pathlib import Path

from gate.config.schema import Config, load_config
from gate.core.errors import GateError


class RelaySafeRefused(GateError, RuntimeError):
    """The lock line could not be driven to its safe level (or a running daemon owns it)."""


def _daemon_answers(storage_dir: Path) -> bool:
    """A live daemon accepts on its control socket; a stale socket left by a killed one refuses."""
    path = Path(storage_dir) / "control.sock"
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def drive_lock_line_safe(cfg: Config, *, pin_factory=None) -> str:
    """Drive the lock pin to the unpowered level; return a one-line description of what was done."""
    g = cfg.hardware.gpio
    if _daemon_answers(cfg.storage_dir):
        raise RelaySafeRefused(f"a gate daemon is running for this config ({cfg.storage_dir}/control.sock "
                               "answers); it owns the lock relay: stop it first")
    safe = "released" if cfg.lock.wiring == "fail-safe" else "locked"
    if cfg.hardware.mode == "simulated":
        from gate.runtime.sim_relay_line import drive_safe

        # The coil is off at the level opposite to the board's active level.
        off = 0 if g.lock_relay_active_high else 1
        try:
            before = drive_safe(cfg.storage_dir, off)
        except OSError as exc:
            raise RelaySafeRefused(f"storage.dir {cfg.storage_dir}: cannot drive the simulated lock line: {exc}") from exc
        how = {None: "the line had never been driven", off: "it was already off"}.get(before, "it was energised")
        return f"lock relay GPIO{g.lock_pin} (simulated line): coil off, {how}; the {cfg.lock.wiring} lock is {safe}"
    from gpiozero.exc import GPIOZeroError

    from drivers.gpio_parts import hold_unpowered

    try:
        hold_unpowered(g.lock_pin, active_high=g.lock_relay_active_high, pin_factory=pin_factory)
    except (GPIOZeroError, OSError, RuntimeError, ImportError) as exc:
        raise RelaySafeRefused(f"hardware.gpio.lock_pin GPIO{g.lock_pin}: cannot drive the lock relay: "
                               f"{type(exc).__name__}: {exc}") from exc
    return f"lock relay GPIO{g.lock_pin}: coil off; the {cfg.lock.wiring} lock is {safe}"


def cmd_relay_safe(args) -> int:
    cfg = load_config(args.config, check_paths=False)
    print(drive_lock_line_safe(cfg))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("relay-safe", help="drive the lock relay's coil off (its safe state) and exit; "
                                          "systemd runs it before each start and after each stop")
    p.add_argument("-c", "--config", required=True, help="the gate's configuration file")
    p.set_defaults(func=cmd_relay_safe)
