"""The community rules' settings: a plain frozen value built from the `[rules]` config section.

Every rule is off unless configured: no anti-passback, no quota, no outing limit, no unknown-card
alarm, and an empty schedule (any time) for every pass type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from gate.rules.schedules import WeeklySchedule

ROLES = ("entry", "exit", "both")
ANTI_PASSBACK = ("off", "soft", "hard")
QUOTA_WINDOWS = ("calendar", "rolling")


@dataclass(frozen=True)
class RulesSettings:
    """What the rules enforce. Durations in seconds; `quota_anchor` is a local calendar date."""

    tz: tzinfo = timezone.utc
    reader_roles: dict[str, str] = field(default_factory=dict)  # reader name -> entry/exit/both
    default_role: str = "both"
    anti_passback: str = "off"
    outing_types: frozenset[str] = frozenset({"resident"})
    exit_quota: int = 0  # 0: no quota
    quota_period_days: int = 1
    quota_window: str = "calendar"
    quota_anchor: date = date(1970, 1, 1)
    outing_limit_seconds: float = 0.0  # 0: no overdue alarm
    unknown_card_attempts: int = 0  # 0: no unknown_card_repeated alarm
    unknown_card_window_seconds: float = 60.0
    schedules: dict[str, WeeklySchedule] = field(default_factory=dict)  # pass type -> windows

    def role(self, reader: str) -> str:
        return self.reader_roles.get(reader, self.default_role)

    def schedule(self, pass_type: str) -> WeeklySchedule | None:
        s = self.schedules.get(pass_type)
        return None if s is None or s.always else s

    @property
    def quota_period_seconds(self) -> float:
        return self.quota_period_days * 86400.0


def _schedules(section: Any) -> dict[str, WeeklySchedule]:
    out = {}
    for name in section.__dataclass_fields__:
        windows = getattr(section, name)
        if windows:
            out[name] = WeeklySchedule.parse(list(windows))
    return out


def config_problems(cfg: Any) -> list[str]:
    """Checks the loader cannot do (window syntax, anchor date), as 'key.path: message' lines."""
    problems: list[str] = []
    rules = getattr(cfg, "rules", None)
    if rules is None:
        return problems
    for name in rules.schedules.__dataclass_fields__:
        try:
            WeeklySchedule.parse(list(getattr(rules.schedules, name)))
        except ValueError as exc:
            problems.append(f"rules.schedules.{name}: {exc}")
    try:
        date.fromisoformat(rules.quota_anchor)
    except ValueError:
        problems.append(f"rules.quota_anchor: must be a date YYYY-MM-DD, got {rules.quota_anchor!r}")
    from gate.core.passes import PASS_TYPES

    for t in rules.outing_types:
        if t not in PASS_TYPES:
            problems.append(f"rules.outing_types: unknown pass type {t!r}; known: {', '.join(PASS_TYPES)}")
    return problems


def settings_from_config(cfg: Any, reader_roles: dict[str, str] | None = None) -> RulesSettings:
    """Build RulesSettings from a validated Config. The RC522 reader is called 'main'; other
    readers (e.g. OSDP) can be given roles with `reader_roles`."""
    r = cfg.rules
    roles = {"main": cfg.hardware.rfid.role, **(reader_roles or {})}
    return RulesSettings(
        tz=ZoneInfo(cfg.gate.timezone),
        reader_roles=roles,
        default_role=cfg.hardware.rfid.role,
        anti_passback=r.anti_passback,
        outing_types=frozenset(r.outing_types),
        exit_quota=r.exit_quota,
        quota_period_days=r.quota_period_days,
        quota_window=r.quota_window,
        quota_anchor=date.fromisoformat(r.quota_anchor),
        outing_limit_seconds=r.outing_limit_minutes * 60.0,
        unknown_card_attempts=r.unknown_card_attempts,
        unknown_card_window_seconds=r.unknown_card_window_seconds,
        schedules=_schedules(r.schedules),
    )
