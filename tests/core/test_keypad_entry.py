"""Guard keypad entry: pure, times passed in."""
from __future__ import annotations

import pytest

from gate.core.keypad_entry import LockoutsRepeated
from gate.core.keypad_entry import EntryCleared, EntryTimedOut, KeypadEntry, KeypadLockedOut, KeypadSettings, LockdownToggle, OverrideGranted, PinCheck, PinRejected

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
    # locked: even the right PIN opens nothing and resets nothing (only a duress PIN is looked for)
    assert type_keys(entry, "4711#", t0=10) == []
    assert entry.is_locked_out(34.3) and not entry.is_locked_out(34.4)  # last "#" at 4.4
    out = []
    for i in range(5):
        out += type_keys(entry, "0000#", t0=40 + i)
    assert out[-1] == KeypadLockedOut(60.0)
    out = []
    for i in range(5):
        out += type_keys(entry, "0000#", t0=200 + i)
    assert out[-2:] == [KeypadLockedOut(120.0), LockoutsRepeated(3)]  # the third lockout today


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


# --- asynchronous checks (no verify_pin: PinCheck, pin_for, complete) ------------------------------

@pytest.fixture
def async_entry():
    return KeypadEntry(KeypadSettings())


def answer_checks(entry, outcomes, verify, at):
    """Answer every PinCheck at once (as a fast worker would), recursively: outcomes without PinCheck."""
    out = []
    for o in outcomes:
        if isinstance(o, PinCheck):
            out += answer_checks(entry, entry.complete(o.request_id, verify(entry.pin_for(o.request_id)), at),
                                 verify, at)
        else:
            out.append(o)
    return out


@pytest.mark.parametrize("script", [
    [(0, "4711#")], [(0, "9999#")], [(0, "#14711#"), (5, "#09999#")], [(0, "12#"), (10, "1" * 40 + "#")],
    [(0, "47*"), (1, "4711#")], [(0, "47"), (50, "4711#")], [(0, "#10000#"), (5, "#54711#")],
    [(i, "0000#") for i in range(5)] + [(10, "4711#")] + [(40 + i, "0000#") for i in range(5)],
    [(0, "0000#"), (1, "0000#"), (2, "4711#"), (3, "0000#")], [(0, "3735928559#")],
])
def test_async_checks_give_exactly_the_inline_outcomes(script):
    sync = KeypadEntry(KeypadSettings(), verify_pin=Verifier())
    lazy, verify = KeypadEntry(KeypadSettings()), Verifier()
    want, got = [], []
    for t0, keys in script:
        want += type_keys(sync, keys, t0=t0)
        for i, k in enumerate(keys):
            got += answer_checks(lazy, lazy.press(k, t0 + i * 0.1), verify, t0 + i * 0.1)
    assert got == want


def test_hash_hands_the_pin_over_once_and_never_in_an_outcome(async_entry):
    out = type_keys(async_entry, "4711#")
    assert out == [PinCheck(1)] and async_entry.pending == 1
    assert "4711" not in repr(out) and "4711" not in repr(async_entry._pending)
    assert async_entry.pin_for(2) is None  # not that check
    assert async_entry.pin_for(1) == "4711"
    assert async_entry.pin_for(1) is None  # handed over once
    assert async_entry.complete(1, ("g-anna", False), 1.0) == [OverrideGranted("g-anna", False)]
    assert async_entry.pending is None
    assert async_entry.complete(1, ("g-anna", False), 1.1) == []  # answered already: nothing


def test_out_of_range_entries_are_refused_without_a_check(async_entry):
    assert type_keys(async_entry, "12#") == [PinRejected(1)]
    assert async_entry.pending is None


def test_keys_typed_during_a_check_are_replayed_after_it(async_entry):
    assert type_keys(async_entry, "0000#4711#") == [PinCheck(1)]
    assert async_entry.typed == 0  # typed ahead, not yet in the entry
    out = async_entry.complete(1, None, 3.0)
    assert out == [PinRejected(1), PinCheck(2)]
    assert async_entry.pin_for(2) == "4711"
    assert async_entry.complete(2, ("g-anna", False), 3.1) == [OverrideGranted("g-anna", False)]


def test_star_during_a_check_does_not_cancel_it(async_entry):
    """Cancelling a submitted check would let a wrong guess go uncounted: '*' clears only what is
    typed after the '#'."""
    type_keys(async_entry, "0000#47*")
    assert async_entry.complete(1, None, 2.0) == [PinRejected(1), EntryCleared()]
    assert async_entry.typed == 0


def test_wrong_pins_answered_late_lock_out_from_the_hash(async_entry):
    for i in range(5):
        [check] = type_keys(async_entry, "0000#", t0=i)
        out = async_entry.complete(check.request_id, None, i + 3.0)  # answered 2.6 s after the '#'
    assert out == [PinRejected(5), KeypadLockedOut(30.0)]
    assert async_entry.is_locked_out(34.3) and not async_entry.is_locked_out(34.4)  # last '#' at 4.4


def test_typed_ahead_keys_after_a_lockout_open_nothing_and_are_checked_for_duress_only():
    entry = KeypadEntry(KeypadSettings(max_attempts=1))
    type_keys(entry, "0000#4711#")
    assert entry.complete(1, None, 1.0) == [PinRejected(1), KeypadLockedOut(30.0), PinCheck(2)]
    assert entry.pin_for(2) == "4711"
    assert entry.complete(2, ("g-anna", False), 1.1) == []  # the right PIN: no opening, no reset
    assert entry.pending is None and entry.typed == 0 and entry.is_locked_out(2.0)


def test_an_unanswered_check_times_out_as_a_failed_attempt(async_entry):
    type_keys(async_entry, "4711#", t0=100.0)  # '#' at 100.4
    type_keys(async_entry, "99", t0=101.0)  # typed ahead: dropped with the check
    assert async_entry.next_deadline() == pytest.approx(110.4)
    assert async_entry.tick(110.3) == []
    assert async_entry.tick(110.4) == [PinRejected(1)]
    assert async_entry.pending is None and async_entry.next_deadline() is None
    assert async_entry.pin_for(1) is None
    assert async_entry.complete(1, ("g-anna", False), 110.5) == []  # stale: never opens late
    assert type_keys(async_entry, "4711#", t0=111) == [PinCheck(2)]


def test_typed_ahead_keys_are_bounded():
    s = KeypadSettings(max_pin_length=4, max_attempts=2)
    entry = KeypadEntry(s)
    type_keys(entry, "0000#" + "1" * 100, step=0.01)
    assert len(entry._pending.queued) == (4 + 3) * 2


# --- F5: the ladder holds at its cap, the state survives a restart, repeated lockouts alarm ----------

def attack(entry, hours: float) -> list[float]:
    """A wrong 6-digit PIN every 3 s whenever keys are accepted (the audit's r03 attacker)."""
    t, ladder = 0.0, []
    while t < hours * 3600:
        if entry.is_locked_out(t):
            t = entry._locked_until
            continue
        ladder += [o.seconds for o in type_keys(entry, "135790#", t0=t) if isinstance(o, KeypadLockedOut)]
        t += 3.0
    return ladder


def test_the_ladder_never_resets_at_its_own_cap():
    entry = KeypadEntry(KeypadSettings(min_pin_length=6), verify_pin=lambda pin: None)
    ladder = attack(entry, 24)
    assert ladder[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(ladder[8:]) == {3600}  # before the fix: back to 30 s after every 1 h lockout
    assert len(ladder) * 5 <= 155  # ~150 wrong PINs a day, as documented (was 475)


def test_an_hour_without_failures_after_the_lockout_ended_forgives():
    entry = KeypadEntry(KeypadSettings(max_attempts=1, lockout_s=30, forgive_after_s=3600), verify_pin=lambda p: None)
    assert KeypadLockedOut(30.0) in type_keys(entry, "0000#", t0=0)
    assert KeypadLockedOut(60.0) in type_keys(entry, "0000#", t0=3000)  # 2970 s after the lockout ended
    assert KeypadLockedOut(30.0) in type_keys(entry, "0000#", t0=3000 + 60 + 3601)


def test_lockout_state_round_trips_through_a_restart(verify):
    s = KeypadSettings(max_attempts=2, lockout_s=100)
    first = KeypadEntry(s, verify_pin=verify)
    type_keys(first, "0000#", t0=0)
    type_keys(first, "0000#", t0=1)  # locked out at 1.4 for 100 s
    state = first.lockout_state(11.4)
    assert (state.failures, state.lockouts, state.locked_for_s) == (0, 1, pytest.approx(90.0))
    second = KeypadEntry(s, verify_pin=verify)  # a new process: its monotonic clock starts elsewhere
    second.restore(state, 5000.0)
    assert second.is_locked_out(5089.9) and not second.is_locked_out(5090.1)
    assert type_keys(second, "4711#", t0=5010) == []  # still locked: the right PIN opens nothing
    out = type_keys(second, "0000#", t0=5100) + type_keys(second, "0000#", t0=5101)
    assert KeypadLockedOut(200.0) in out  # the ladder carried on from the restored level


def test_a_duress_pin_during_a_lockout_is_a_silent_alarm_and_opens_nothing(entry):
    from gate.core.actions import Grant, Record, Signal
    from gate.core.keypad_entry import DuressDuringLockout
    from gate.core.keypad_flow import KeypadFlow

    for i in range(5):
        type_keys(entry, "0000#", t0=i)
    assert entry.is_locked_out(10)
    assert type_keys(entry, "9999#", t0=10) == [DuressDuringLockout("g-anna")]
    assert type_keys(entry, "#19999#", t0=12) == [DuressDuringLockout("g-anna")]  # a lockdown code too
    assert type_keys(entry, "0000#", t0=14) == [] and entry.is_locked_out(20)  # uncounted, not extended
    flow = KeypadFlow(entry)
    actions = [a for k in "9999#" for a in flow.press(k, "keypad", 16)]
    assert actions == [Record("duress", {"guard": "g-anna", "source": "keypad", "during_lockout": True})]
    assert not any(isinstance(a, (Grant, Signal)) for a in actions)  # looks like any entry during a lockout


def test_repeated_lockouts_in_a_day_raise_an_alarm_record(verify):
    from gate.core.keypad_flow import KeypadFlow

    flow = KeypadFlow(KeypadEntry(KeypadSettings(max_attempts=1, lockout_s=10, lockout_alarm_per_day=2), verify_pin=verify))
    records = []
    for t in (0, 100, 1000):
        records += [a for k in "0000#" for a in flow.press(k, "keypad", t) if getattr(a, "type", None)]
    repeated = [r for r in records if r.type == "keypad_lockouts_repeated"]
    assert [r.fields["lockouts"] for r in repeated] == [2] and repeated[0].fields["hours"] == 24
