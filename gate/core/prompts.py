"""The residents' prompt vocabulary: which message a journal record or a feedback signal means.

Pure tables, no I/O. A message id is the gettext msgid of the `gate` domain (gate/locale/); its
zh-CN and en texts live in the catalogues, its spoken form in the prompt pack (docs/feedback.md).
Names are never part of a spoken prompt; the display shows them masked (`mask_name`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.core.records import REFUSAL_REASONS

IDLE = "idle"

# Every message the gate can give a resident, in the order docs/feedback.md lists them.
MESSAGE_IDS = (
    IDLE,
    "granted",
    "refused",
    "refused_unknown_card",
    "refused_expired",
    "refused_revoked",
    "refused_not_yet_valid",
    "refused_outside_hours",
    "refused_quota_exceeded",
    "refused_quarantine",
    "refused_lockdown",
    "refused_screening_unavailable",
    "fever",
    "retest",
    "step_closer",
    "tap_again",
    "guard_override",
    "door_held_open",
    "fire_release",
)

# access_refused reason -> message. A reason the table does not name gets the plain "refused".
REFUSAL_PROMPTS: dict[str, str] = {
    "unknown_card": "refused_unknown_card",
    "expired": "refused_expired",
    "revoked": "refused_revoked",
    "not_yet_valid": "refused_not_yet_valid",
    "outside_hours": "refused_outside_hours",
    "quota_exceeded": "refused_quota_exceeded",
    "quarantine": "refused_quarantine",
    "lockdown": "refused_lockdown",
    "screening_unavailable": "refused_screening_unavailable",
    "fever": "fever",
    # A credential that did not verify is most often a card pulled away mid-read; a forger learns
    # nothing from being asked to tap again.
    "forged_credential": "tap_again",
    "anti_passback": "refused",
    "journal_unavailable": "refused",
}

# Screening gave up without a valid reading because nobody stood in front of the sensor (or the
# reading was not plausible skin): ask for a new measurement rather than blame the sensor.
_RETEST_KINDS = ("no_person", "too_cold", "implausible")

# Records that speak on their own (not per reason).
RECORD_PROMPTS: dict[str, str] = {
    "access_granted": "granted",
    "override": "guard_override",
    "held_open": "door_held_open",
    "fire_release": "fire_release",
}

# Feedback signals without a record of their own (Signal.pattern -> message).
SIGNAL_PROMPTS: dict[str, str] = {
    "retest": "step_closer",  # the screening waits for a valid reading: come closer to the sensor
    "prealarm": "door_held_open",  # the door stays open: please close it (before the held_open alarm)
}

# Records whose outcome the display shows with the person's (masked) name and temperature.
PERSONAL_RECORDS = frozenset({"access_granted", "access_refused"})


@dataclass(frozen=True)
class Outcome:
    """What the resident is told: the message, and for the display only a masked name and the
    temperature the gate measured."""

    message_id: str
    masked_name: str | None = None
    temperature_c: float | None = None


def message_for_record(record_type: str, fields: dict[str, Any]) -> str | None:
    """The message a committed journal record gives the resident, or None (most records are silent;
    a duress record is silent by design: the gate must look exactly like a normal override)."""
    if record_type == "access_refused":
        reason = fields.get("reason")
        if reason == "screening_unavailable" and str(fields.get("detail", "")).startswith(_RETEST_KINDS):
            return "retest"
        return REFUSAL_PROMPTS.get(reason, "refused")
    return RECORD_PROMPTS.get(record_type)


def outcome_for_record(record_type: str, fields: dict[str, Any]) -> Outcome | None:
    message = message_for_record(record_type, fields)
    if message is None:
        return None
    if record_type not in PERSONAL_RECORDS:
        return Outcome(message)
    temperature = fields.get("temperature_c")
    name = fields.get("name")
    return Outcome(message, mask_name(name) if isinstance(name, str) and name else None,
                   float(temperature) if isinstance(temperature, (int, float)) else None)


def message_for_signal(pattern: str) -> str | None:
    return SIGNAL_PROMPTS.get(pattern)


def mask_name(name: str) -> str:
    """王小明 -> 王*明, 王明 -> 王*, 欧阳小明 -> 欧**明; each word of a Latin name alike (Li Wei -> L* W**)."""
    words = name.split()
    if len(words) > 1:
        return " ".join(_mask_word(w) for w in words)
    return _mask_word(name.strip())


def _mask_word(word: str) -> str:
    if len(word) <= 1:
        return "*"
    if len(word) == 2:
        return word[0] + "*"
    if word.isascii():
        return word[0] + "*" * (len(word) - 1)
    return word[0] + "*" * (len(word) - 2) + word[-1]


def unprompted_reasons() -> list[str]:
    """Refusal reasons of the vocabulary (gate.core.records) without a prompt of their own (for tests)."""
    return [r for r in REFUSAL_REASONS if r not in REFUSAL_PROMPTS]
