"""Journal record vocabulary: which types are alarms and which count as security records."""
from __future__ import annotations

ALARM_TYPES = frozenset(
    {
        "forced_open",
        "held_open",
        "tamper",
        "fire_release",
        "duress",
        "keypad_lockout",
        "fever",
        "quarantine_exit",
        "device_fault",
        "overdue",
        "storage_low",
        "unknown_card_repeated",
        "forged_credential",
        "door_contact_fault",
        "keypad_lockouts_repeated",
    }
)

# Kept longest under the retention policy (refusals, alarms, overrides, commands).
SECURITY_TYPES = ALARM_TYPES | frozenset({"access_refused", "override", "command", "command_rejected", "lockdown",
                                          "remote_unlock", "override_refused", "relay_test",
                                          "registry_rejected"})

REFUSAL_REASONS = (
    "unknown_card",
    "revoked",
    "expired",
    "not_yet_valid",
    "fever",
    "quarantine",
    "quota_exceeded",
    "outside_hours",
    "screening_unavailable",
    "lockdown",
    "forged_credential",
    "anti_passback",
    "journal_unavailable",
)


def is_alarm(record_type: str) -> bool:
    return record_type in ALARM_TYPES


def is_security(record_type: str) -> bool:
    return record_type in SECURITY_TYPES
