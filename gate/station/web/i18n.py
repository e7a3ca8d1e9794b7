"""The console's language: gettext catalogues `gate/station/locale/<lang>/LC_MESSAGES/station.po`,
read with Babel. English is the source language (msgid); a missing translation shows the English."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGS = {"en": "en", "zh-CN": "zh_CN"}

# The human label (msgid) of every record type, refusal reason and board state the console shows.
LABELS = {
    "forced_open": "Forced opening", "held_open": "Door held open", "tamper": "Tamper",
    "fire_release": "Fire release", "duress": "Duress", "keypad_lockout": "Keypad locked out",
    "fever": "Fever", "quarantine_exit": "Quarantine exit", "device_fault": "Device fault",
    "forged_credential": "Forged credential", "unknown_card_repeated": "Unknown card, repeatedly",
    "overdue": "Outing overdue", "storage_low": "Gate storage low",
    "door_contact_fault": "Door contact fault", "keypad_lockouts_repeated": "Keypad locked out, repeatedly",
    "remote_unlock": "Remote unlock", "override_refused": "Guard override refused", "relay_test": "Relay test",
    "anti_passback": "Anti-passback", "journal_unavailable": "Gate journal unavailable",
    "registry_rejected": "Pass registry refused by the gate", "registry_applied": "Pass registry applied",
    "compound_managed": "Passes are managed by the station",
    "access_granted": "Access granted", "access_refused": "Access refused", "door_opened": "Door opened",
    "door_closed": "Door closed", "exit_request": "Exit request", "override": "Guard override",
    "command": "Command", "command_rejected": "Command rejected", "alarm_cleared": "Alarm cleared",
    "alarm_acknowledged": "Alarm acknowledged",
    "unknown_card": "Unknown card", "revoked": "Pass revoked", "expired": "Pass expired",
    "not_yet_valid": "Pass not yet valid", "quarantine": "Under quarantine", "quota_exceeded": "Quota exceeded",
    "outside_hours": "Outside hours", "screening_unavailable": "Screening unavailable", "lockdown": "Lockdown",
    "new": "NEW", "claimed": "Claimed", "ack_sent": "Acknowledged, waiting for the gate",
    "unconfirmed": "Gate did not confirm", "closed": "Closed by the gate",
    "door_open": "Door open", "locked": "Locked", "unlocked": "Unlocked",
    "normal": "Normal", "fire": "Fire mode", "online": "online", "offline": "offline", "unknown": "unknown",
    "unlock": "Unlock", "lockdown_on": "Lockdown on", "lockdown_off": "Lockdown off",
    "temperature_c": "Temperature (°C)", "guard": "Guard", "device": "Device", "reason": "Reason", "card": "Card",
    "officer": "Officer", "supervisor": "Supervisor", "camera": "Camera",
    # Station supervision (gate/station/supervision.py): the station's own alarm and its details.
    "gate_silent": "Gate silent (seen by the station)", "origin": "Observed by", "last_heard": "Last heard",
    "supervision_seconds": "Silence allowed (s)", "gate_heard": "Gate heard again", "heard_at": "Heard at",
}
# Texts the page's script shows; the msgid is the code.
UI_TEXTS = ("Claim", "open", "shown (open and last 24 h)", "delayed by", "escalated", "no alarms",
            "claimed but not acknowledged in time", "Gate", "Compound", "Time", "State", "Door now", "Note",
            "A note is required: say what was done.", "Sending the acknowledgement to the gate...",
            "The gate confirmed: alarm closed.", "The gate did not confirm", "This page lost the station server",
            "Station online", "The station has lost its broker: no gate can reach it", "Sending...",
            "UNVERIFIED: no valid signature from the gate")
LABELS.update({text: text for text in UI_TEXTS})


class Catalogue:
    """`_("text")` translates; `labels()` maps every code in LABELS to its translated label."""

    def __init__(self, lang: str, messages: dict[str, str]):
        self.lang, self._messages = lang, messages

    def __call__(self, text: str) -> str:
        return self._messages.get(text) or text

    def labels(self) -> dict[str, str]:
        return {code: self(text) for code, text in LABELS.items()}


@lru_cache(maxsize=None)
def catalogue(lang: str) -> Catalogue:
    if lang not in LANGS:
        lang = "en"
    path = LOCALE_DIR / LANGS[lang] / "LC_MESSAGES" / "station.po"
    if not path.exists():
        return Catalogue(lang, {})
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        cat = read_po(f, locale=LANGS[lang])
    return Catalogue(lang, {m.id: m.string for m in cat if m.id and isinstance(m.id, str) and m.string})
