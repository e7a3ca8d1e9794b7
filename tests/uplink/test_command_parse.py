"""Hostile payload shapes at the first parser (audit F1, F15; fault injection 7): rejected cheaply,
as `malformed`, never a RecursionError; signature checks that cannot raise."""
from __future__ import annotations

import json

import pytest

from gate.clock import FakeClock
from gate.uplink.command_gate import MAX_PAYLOAD_BYTES, CommandGate, CommandRejected
from gate.uplink.command_parse import MAX_DEPTH, bracket_problem, parse_command, safe_id
from gate.uplink.signing import sign, verify
from gatefixture import SECRET
from uplinkfixture import open_journal


def _malformed(payload: bytes) -> str:
    with pytest.raises(CommandRejected) as info:
        parse_command(payload)
    assert info.value.reason == "malformed"
    return info.value.detail


@pytest.mark.parametrize("payload", [
    b"[" * 100_000 + b"]" * 100_000,                      # the audit's deep arrays
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,             # and deep objects
    b'{"cmd_id":"x","args":' + b"[" * 3000 + b"]" * 3000 + b"}",  # deep inside a real-looking command
])
def test_deep_nesting_is_malformed_not_a_recursion_error(payload):
    assert f"nested deeper than {MAX_DEPTH} levels" in _malformed(payload)


def test_unbalanced_brackets_are_refused_before_json_sees_the_nesting():
    # Mismatched brackets are no JSON; json.loads would still recurse into them first.
    assert "do not balance" in _malformed(b"[" * 50_000 + b"}" + b"]" * 50_000)


def test_depth_limit_is_exact_and_brackets_inside_strings_do_not_count():
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert bracket_problem(ok) == "" and bracket_problem(b"[" + ok + b"]") != ""
    text = json.dumps({"cmd_id": "c1", "name": "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{ \\\" ]]]"}).encode()
    assert parse_command(text)["cmd_id"] == "c1"


def test_oversized_payload_is_refused_without_decoding():
    # Invalid UTF-8 and no JSON: only the size is looked at.
    assert "larger than" in _malformed(b"\xff" * (MAX_PAYLOAD_BYTES + 1))


def test_duplicate_keys_and_non_finite_numbers_are_malformed():
    assert "duplicate key 'action'" in _malformed(b'{"action":"unlock","action":"lockdown","on":true}')
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        assert "is not JSON" in _malformed(b'{"to_seq":' + constant + b"}")


def test_a_legitimate_big_passes_command_parses():
    entries = [{"card": f"{i:08X}", "name": f"Resident {i}", "household": f"h{i}"} for i in range(10_000)]
    payload = json.dumps({"cmd_id": "c", "action": "passes", "upsert": entries}).encode()
    assert len(payload) < MAX_PAYLOAD_BYTES and len(parse_command(payload)["upsert"]) == 10_000


def test_safe_id_keeps_plain_ids_and_hashes_anything_else():
    assert safe_id("5f1c0e2a-9d1b") == "5f1c0e2a-9d1b"
    for hostile in ("[/red]", "x" * 65, "a b", "c-\ud800", "\x1b[2J"):
        assert safe_id(hostile).startswith("sha256:") and len(safe_id(hostile)) == 23
    assert safe_id(None) == "" and safe_id(5) == ""


# --- F15: the signature check -----------------------------------------------------------------------
def test_a_non_ascii_or_malformed_sig_is_just_a_bad_signature(tmp_path):
    good = sign({"cmd_id": "c", "gate": "g", "issued_at": "2026-11-29T10:00:00.000Z", "action": "unlock"}, SECRET)
    assert verify(good, SECRET)
    for sig in ("é" * 64, good["sig"].upper(), good["sig"][:-1], good["sig"] + "0", 12, None, ""):
        assert verify({**good, "sig": sig}, SECRET) is False  # never a TypeError
    with open_journal(tmp_path, "g") as journal:
        gate = CommandGate("g", journal, key=SECRET, clock=FakeClock())
        with pytest.raises(CommandRejected) as info:
            gate.verify(json.dumps({**good, "sig": "é" * 64}).encode(), retained=False)
        assert info.value.reason == "bad_signature"


def test_a_short_command_secret_is_refused(tmp_path):
    with open_journal(tmp_path, "g") as journal:
        gate = CommandGate("g", journal, key=b"k" * 31, clock=FakeClock())
        assert "at least 32" in gate.key_problem
        with pytest.raises(CommandRejected) as info:
            gate.verify(json.dumps(sign({"cmd_id": "c", "action": "unlock"}, b"k" * 31)).encode(), retained=False)
        assert info.value.reason == "no_secret"
