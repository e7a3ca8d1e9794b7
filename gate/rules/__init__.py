"""Community rules: households, reader direction, quarantine, outing quotas, anti-passback and
overdue returns, weekly schedules per pass type, unknown-card follow-up (docs/rules.md)."""
from __future__ import annotations

from pathlib import Path

from .commands import handle_quarantine_command, quarantine_handler
from .engine import CommunityRules
from .households import Household, HouseholdStore, parse_household_csv
from .policy import Facts, Presence, evaluate
from .schedules import WeeklySchedule
from .settings import RulesSettings, settings_from_config
from .state import MemoryRuleState, RuleState, SqliteRuleState

__all__ = [
    "CommunityRules", "Facts", "Household", "HouseholdStore", "MemoryRuleState", "Presence", "RuleState",
    "RulesSettings", "SqliteRuleState", "WeeklySchedule", "build_rules", "evaluate", "handle_quarantine_command",
    "parse_household_csv", "quarantine_handler", "settings_from_config",
]


def build_rules(cfg, passes, storage_dir: str | Path, *, reader_roles: dict[str, str] | None = None) -> CommunityRules:
    """The daemon's rules: opens households (registry.db) and the rules state (rules.db) in
    `storage_dir`; closing the rules closes both (not `passes`, which the caller owns)."""
    d = Path(storage_dir)
    households = HouseholdStore(d / "registry.db")
    try:
        state = SqliteRuleState(d / "rules.db")
    except Exception:
        households.close()
        raise
    settings = settings_from_config(cfg, reader_roles)
    return CommunityRules(settings, passes, households, state, owned=(households, state))
