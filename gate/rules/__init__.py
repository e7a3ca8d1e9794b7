"""Community rules: households, reader direction, quarantine, outing quotas, anti-passback and
overdue returns, weekly schedules per pass type, unknown-card follow-up (docs/rules.md).

May import `gate.core` and `gate.clock`; never a store, sqlite3 or the runtime: the rules reach
their data through ports (`PassLookup`, `RuleState`, a household lookup) that the runtime fills.
"""
from __future__ import annotations

from gate.rules.commands import handle_quarantine_command, quarantine_handler
from gate.rules.engine import CommunityRules
from gate.rules.households import Household, parse_household_csv
from gate.rules.policy import Facts, Presence, evaluate
from gate.rules.schedules import WeeklySchedule
from gate.rules.settings import RulesSettings, settings_from_config
from gate.rules.state import MemoryRuleState, RuleState

__all__ = [
    "CommunityRules", "Facts", "Household", "MemoryRuleState", "Presence", "RuleState", "RulesSettings",
    "WeeklySchedule", "evaluate", "handle_quarantine_command", "parse_household_csv", "quarantine_handler",
    "settings_from_config",
]
