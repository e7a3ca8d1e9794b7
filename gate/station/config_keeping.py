"""Checks of the station's supervision and retention keys (`[station] supervision_seconds`,
`retain_days`, `retain_alarm_days`, `[gates."ID"] supervision_seconds`), apart from config.py."""
from __future__ import annotations

from typing import Any


def check_keeping(station: dict[str, Any], gate_supervision: dict[str, float], problems: list[str]) -> None:
    """Supervision and retention keys: non-negative; alarms are never kept shorter than records
    (their handling must outlive the ordinary records around them; 0 is forever)."""
    for key in ("supervision_seconds", "retain_days", "retain_alarm_days"):
        if station.get(key, 0) < 0:
            problems.append(f"station.{key}: must not be negative (0: {'off' if key.startswith('sup') else 'keep forever'}), "
                            f"got {station[key]}")
    for gate_id, seconds in gate_supervision.items():
        if seconds < 0:
            problems.append(f"gates.{gate_id}.supervision_seconds: must not be negative (0: off), got {seconds:g}")
    for key, value in [("station.supervision_seconds", station.get("supervision_seconds", 300.0)),
                       *((f"gates.{g}.supervision_seconds", s) for g, s in gate_supervision.items())]:
        if 0 < value < 1:
            problems.append(f"{key}: at least 1 second (or 0: off), got {value:g}")
    records, alarms = station.get("retain_days", 0), station.get("retain_alarm_days", 0)
    if alarms and (not records or alarms < records):
        problems.append(f"station.retain_alarm_days: alarms must be kept at least as long as records "
                        f"(retain_days = {records:g}{' = forever' if not records else ''}), got {alarms:g}")

