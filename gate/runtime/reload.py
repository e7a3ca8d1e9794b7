"""Config reload (SIGHUP): apply what can change in a running gate, refuse what needs a restart.

Runs on the daemon's main loop thread (`GateDaemon.reload` queues it there), so the core never sees a
half-applied config. Nothing is rebuilt: the door state, the lock, the open grant, the screening
samples of a pending tap and the MQTT session all carry on. A reload is all or nothing: a config with
errors, or with a changed key that only a restart can apply (gate.id, storage.dir, pins, mqtt.host,
...), is refused as a whole with the reasons logged, and the running config stays.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from gate.config.schema import Config, load_config
from gate.config.checks import screening_policy, screening_settings
from gate.core.errors import ConfigError

log = logging.getLogger("gate.reload")

# Keys the daemon applies itself (a prefix ending in "." covers a whole section). Components add
# their own through GateDaemon.reload_listeners: (prefixes, apply(new_cfg)).
RELOADABLE: tuple[str, ...] = ("lock.unlock_seconds", "door.", "screening.")
RESTART_HINT = "sudo systemctl restart gate"

ReloadListener = tuple[tuple[str, ...], Callable[[Config], None]]


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: `applied`, the `changed` key paths, and `errors` when refused."""

    applied: bool
    changed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def summary(self) -> str:
        if not self.applied:
            return "reload refused: " + "; ".join(self.errors)
        return "reloaded: " + (", ".join(self.changed) if self.changed else "no changes")


def flatten(obj: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a config as {"section.key": value} (internal fields left out)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("internal"):
            continue
        value = getattr(obj, f.name)
        where = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, where))
        else:
            out[where] = value
    return out


def changed_keys(old: Config, new: Config) -> list[str]:
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _covered(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in prefixes)


def restart_required(old: Config, new: Config, changed: list[str], prefixes: Iterable[str]) -> list[str]:
    prefixes = tuple(prefixes)
    blocked = [k for k in changed if not _covered(k, prefixes)]
    # Screening switched on or off changes which parts run (the sampler, the card flow): restart.
    if "screening.mode" in changed and "off" in (old.screening.mode, new.screening.mode):
        blocked.append("screening.mode")
    return blocked


def apply_to_core(core: Any, new: Config) -> None:
    """Swap the core's settings objects in place; state (door, grant, samples) is untouched."""
    from gate.config.checks import core_settings

    settings = core_settings(new)
    core.settings = settings
    core.door.settings = settings.door
    gate = getattr(core.cards, "screening", None)
    if gate is not None:
        gate.policy = screening_policy(new)
        fresh = screening_settings(new)
        if fresh != gate.screening.settings:
            from gate.core.screening import Screening

            # Window and presence settings shape the sample buffer: start it afresh (a tap being
            # measured right now gets a retest at worst).
            gate.screening = Screening(fresh, lock=threading.Lock())


def apply_reload(daemon: Any, new: Config | str | Path) -> ReloadResult:
    """Load (when given a path), compare with `daemon.cfg`, apply or refuse. Main loop thread only."""
    old: Config = daemon.cfg
    if not isinstance(new, Config):
        try:
            new = load_config(new)
        except ConfigError as exc:
            log.error("reload refused: the new config has %d problem(s); the running config stays:\n  %s",
                      len(exc.problems), "\n  ".join(exc.problems))
            return ReloadResult(False, errors=tuple(exc.problems))
    changed = changed_keys(old, new)
    listeners: list[ReloadListener] = list(getattr(daemon, "reload_listeners", []))
    prefixes = RELOADABLE + tuple(p for ps, _ in listeners for p in ps)
    blocked = restart_required(old, new, changed, prefixes)
    if blocked:
        errors = tuple(f"{k}: changed, needs a restart ({RESTART_HINT})" for k in blocked)
        log.error("reload refused: %s cannot change while running (%s); the running config stays",
                  ", ".join(blocked), RESTART_HINT)
        return ReloadResult(False, tuple(changed), errors)
    if not changed:
        log.info("reload: configuration unchanged")
        return ReloadResult(True)
    apply_to_core(daemon.controller.core, new)
    for _prefixes, apply in listeners:
        apply(new)
    daemon.cfg = new
    daemon.controller.record("config_reloaded", {"changed": changed})
    log.info("reloaded: %s", ", ".join(changed))
    return ReloadResult(True, tuple(changed))
