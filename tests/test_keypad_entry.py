"""Guard keypad entry: pure, times passed in."""
from __future__ import annotations

import pytest

from gate.keypad_entry import (EntryCleared, EntryTimedOut, KeypadEntry, KeypadLockedOut,
                               KeypadSettings, LockdownToggle, OverrideGranted, PinRejected)

PINS = {"4711": ("g-anna", False), "9999": ("g-anna", True), "123456": ("g-bo", False)}


class Verifier:
    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, pin):
        self.calls.append(pin)
        return PINS.get(pin)


@pytest.fixture
def verify():
    return Verifier()


@pytest.fixture
def entry(verify):
    return KeypadEntry(KeypadSettings(), verify_pin=verify)


def type_keys(entry, keys, t0=0.0, step=0.1):
    out = []
    for i, k in enumerate(keys):
        out.extend(entry.press(k, t0 + i * step))
    return out


def test_pin_then_hash_grants_override(entry):
    assert type_keys(entry, "4711#") == [OverrideGranted("g-anna", duress=False)]
    assert type_keys(entry, "123456#", t0=10) == [OverrideGranted("g-bo", duress=False)]


def test_duress_pin_grants_like_a_normal_override_but_says_duress(entry):
    assert type_keys(entry, "9999#") == [OverrideGranted("g-anna", duress=True)]


def test_star_clears_what_was_typed(entry, verify):
    assert type_keys(entry, "47*") == [EntryCleared()]
    assert entry.typed == 0
    assert type_keys(entry, "4711#", t0=1) == [OverrideGranted("g-anna", False)]
    assert verify.calls == ["4711"]  # the cleared digits never reached the verifier
    assert entry.press("*", 5) == []  # nothing to clear


def test_partial_entry_times_out(entry):
    type_keys(entry, "47", t0=100.0)
    assert entry.next_deadline() == pytest.approx(110.1)
    assert entry.tick(110.0) == []
    assert entry.tick(110.1) == [EntryTimedOut()]
    assert entry.next_deadline() is None and entry.typed == 0
    assert entry.tick(200.0) == []


def test_key_after_timeout_starts_a_fresh_entry(entry):
    type_keys(entry, "47", t0=0.0)
    out = type_keys(entry, "4711#", t0=50.0)
    assert out == [EntryTimedOut(), OverrideGranted("g-anna", False)]


def test_wrong_pins_lock_out_after_five_and_lockout_doubles(entry):
    out = []
    for i in range(5):
        out += type_keys(entry, "0000#", t0=i)
    assert out == [PinRejected(1), PinRejected(2), PinRejected(3), PinRejected(4),
                   PinRejected(5), KeypadLockedOut(30.0)]
    # locked: even the right PIN is ignored, and nothing is buffered
    assert type_keys(entry, "4711#", t0=10) == []
    assert entry.is_locked_out(34.3) and not entry.is_locked_out(34.4)  # last "#" at 4.4
    out = []
    for i in range(5):
        out += type_keys(entry, "0000#", t0=40 + i)
    assert out[-1] == KeypadLockedOut(60.0)
    out = []
    for i in range(5):
        out += type_keys(entry, "0000#", t0=200 + i)
    assert out[-1] == KeypadLockedOut(120.0)


def test_lockout_is_capped(verify):
    entry = KeypadEntry(KeypadSettings(max_attempts=1, lockout_s=30, lockout_max_s=100,
                                       forgive_after_s=10_000), verify_pin=verify)
    seen = []
    t = 0.0
    for _ in range(4):
        seen += [o.seconds for o in type_keys(entry, "0000#", t0=t) if isinstance(o, KeypadLockedOut)]
        t += 200
    assert seen == [30, 60, 100, 100]


def test_correct_pin_resets_failures_and_lockout_level(entry):
    type_keys(entry, "0000#", t0=0)
    type_keys(entry, "0000#", t0=1)
    assert type_keys(entry, "4711#", t0=2) == [OverrideGranted("g-anna", False)]
    assert type_keys(entry, "0000#", t0=3) == [PinRejected(1)]


def test_failures_are_forgiven_after_a_quiet_hour(entry):
    for i in range(4):
        type_keys(entry, "0000#", t0=i)
    assert type_keys(entry, "0000#", t0=4000) == [PinRejected(1)]


def test_short_long_and_unknown_entries_are_rejected_without_short_cuts(entry, verify):
    assert type_keys(entry, "12#") == [PinRejected(1)]
    assert type_keys(entry, "1" * 40 + "#", t0=10) == [PinRejected(2)]
    assert verify.calls == []  # out-of-range lengths never reach the (slow) verifier
    assert entry.press("#", 20) == []  # a lone '#' types nothing and costs nothing


def test_lockdown_on_and_off_codes(entry):
    assert type_keys(entry, "#14711#") == [LockdownToggle("g-anna", on=True, duress=False)]
    assert type_keys(entry, "#0123456#", t0=5) == [LockdownToggle("g-bo", on=False)]
    assert type_keys(entry, "#09999#", t0=9) == [LockdownToggle("g-anna", on=False, duress=True)]


def test_lockdown_code_with_wrong_pin_or_bad_command_counts_as_failure(entry):
    assert type_keys(entry, "#10000#") == [PinRejected(1)]
    assert type_keys(entry, "#54711#", t0=5) == [PinRejected(2)]


def test_typed_card_number_never_opens(entry, verify):
    """A card UID typed on the keypad is just a wrong PIN: no card lookup exists on this path."""
    assert type_keys(entry, "3735928559#") == [PinRejected(1)]
    assert verify.calls == ["3735928559"]


def test_other_keys_are_ignored(entry):
    assert type_keys(entry, "47A11#") == [OverrideGranted("g-anna", False)]


@pytest.mark.parametrize("kwargs, problem", [
    (dict(entry_timeout_s=0), "keypad.entry_timeout_s"),
    (dict(min_pin_length=8, max_pin_length=6), "keypad.max_pin_length"),
    (dict(lockout_s=60, lockout_max_s=30), "keypad.lockout_max_s"),
])
def test_settings_errors_name_the_key(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        KeypadSettings(**kwargs)
