"""Every journal record type the gate writes, for `gatectl events --type` (tests keep it complete)."""
from __future__ import annotations

from gate.core.records import ALARM_TYPES, SECURITY_TYPES

EVENT_TYPES = frozenset({
    "access_granted", "access_refused", "alarm_acknowledged", "alarm_cleared", "command",
    "command_rejected", "config_reloaded", "credential_issued", "daemon_started", "daemon_stopped",
    "device_recovered", "door_closed", "door_opened", "exit_request", "grant_refused",
    "internal_error", "lockdown", "lockdown_restored", "override", "override_refused",
    "anti_passback_violation", "overdue_returned", "registry_applied", "registry_rejected", "relay_test", "relocked",
    "remote_unlock", "storage_recovered",
})
RECORD_TYPES = tuple(sorted(EVENT_TYPES | ALARM_TYPES | SECURITY_TYPES))
