"""Builds the daemon's community rules over their SQLite stores in storage.dir."""
from __future__ import annotations

from pathlib import Path

from gate.rules import CommunityRules, settings_from_config
from gate.store.households import HouseholdStore
from gate.store.rule_state import SqliteRuleState


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
