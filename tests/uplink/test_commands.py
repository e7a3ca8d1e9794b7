"""Signed station commands through a real broker: every rejection journaled and answered; actions work."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from gate.clock import FakeClock
from gate.uplink.command_gate import RejectionLimiter
from gate.uplink.command_parse import safe_id
from gate.core.errors import InputError
from gate.core.events import RemoteCommand
from gate.store.passes import PassStore
from gate.uplink.remote_actions import lockdown_handler, passes_handler, unlock_handler
from gate.clock import SystemClock
from gate.core.timefmt import format_ts
from gate.uplink import signing
from gatefixture import SECRET, StationClient, wait_for
from uplinkfixture import make_uplink, open_journal


@pytest.fixture
def rig(broker, tmp_path):
    """An uplink with unlock/lockdown/passes, a station client and the list of posted events."""
    posted: list = []
    with open_journal(tmp_path) as journal, PassStore(tmp_path / "registry.db") as passes, \
            StationClient(broker.port) as station:
        uplink = make_uplink(journal, broker.port)
        uplink.register_command("unlock", unlock_handler(posted.append, SystemClock()))
        uplink.register_command("lockdown", lockdown_handler(posted.append, SystemClock()))
        uplink.register_command("passes", passes_handler(passes))
        uplink.start()
        # The status follows the gate's SUBSCRIBE on the same connection: once it is here, so is the subscription.
        wait_for(lambda: station.on("status"), 10, "gate status")
        try:
            yield type("Rig", (), dict(journal=journal, passes=passes, station=station, uplink=uplink, posted=posted))
        finally:
            uplink.close()


def _unsealed(result: dict) -> dict:
    """A cmd/result answer without its `mac`, which must be the gate's (docs/uplink.md)."""
    assert signing.check_seal(result, SECRET, signing.RESULT), result
    return {k: v for k, v in result.items() if k != "mac"}


def _journaled(journal, record_type):
    return [r.fields for r in journal.records(record_type=record_type)]


def _rejected_reason(rig, cmd_id):
    result = rig.station.wait_result(cmd_id)
    assert result["ok"] is False and result["error"]
    return result["reason"]


def test_bad_commands_are_rejected_journaled_and_answered(rig):
    st = rig.station
    old = format_ts(datetime.now(timezone.utc) - timedelta(seconds=90))
    cases = {
        "missing_signature": st.command("unlock", signed=False),
        "bad_signature": st.command("unlock", key=b"not-the-secret"),
        "stale": st.command("unlock", issued_at=old),
        "wrong_gate": st.command("unlock", gate="other-gate"),
    }
    tampered = st.command("unlock", seconds=3)
    tampered["seconds"] = 60  # changed after signing
    cases["bad_signature_tampered"] = tampered
    for obj in cases.values():
        st.send(obj)
    for name, obj in cases.items():
        assert _rejected_reason(rig, obj["cmd_id"]) == name.removesuffix("_tampered")
    reused = st.command("lockdown", on=True)
    st.send(reused)
    assert st.wait_result(reused["cmd_id"])["ok"] is True
    st.send(reused)
    wait_for(lambda: len([p for p in st.on("cmd/result") if p["cmd_id"] == reused["cmd_id"]]) == 2, 5, "second answer")
    assert [p["ok"] for p in st.on("cmd/result") if p["cmd_id"] == reused["cmd_id"]] == [True, False]
    rejected = _journaled(rig.journal, "command_rejected")
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == sorted(["missing_signature", "bad_signature", "stale", "wrong_gate", "bad_signature", "reused"])
    assert all(r["cmd_id"] and r["action"] for r in rejected)
    assert rig.posted == [RemoteCommand("lockdown", {"on": True}, reused["cmd_id"], rig.posted[0].at)]


def test_retained_command_is_rejected(broker, tmp_path):
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        cmd = station.command("unlock")
        station.send(cmd, retain=True)  # waiting on the broker before the gate subscribes
        uplink = make_uplink(journal, broker.port).start()
        try:
            assert station.wait_result(cmd["cmd_id"])["reason"] == "retained"
            assert _journaled(journal, "command_rejected")[0]["reason"] == "retained"
            assert not journal.command_seen(cmd["cmd_id"])
        finally:
            uplink.close()
            station.client.publish(f"{station.base}/cmd", b"", qos=1, retain=True).wait_for_publish(5)


def test_cmd_ids_are_remembered_across_restarts(broker, tmp_path):
    with StationClient(broker.port) as station:
        cmd = station.command("replay", from_seq=1)
        for attempt in range(2):
            with open_journal(tmp_path) as journal:
                uplink = make_uplink(journal, broker.port).start()
                try:
                    wait_for(lambda: len([p for p in station.on("status") if p["online"]]) > attempt, 10, "gate status")
                    station.send(cmd)
                    wait_for(lambda: len([p for p in station.on("cmd/result") if p["cmd_id"] == cmd["cmd_id"]]) > attempt,
                             5, "answer")
                finally:
                    uplink.close()
        answers = [p for p in station.on("cmd/result") if p["cmd_id"] == cmd["cmd_id"]]
        assert [a["ok"] for a in answers] == [True, False] and answers[1]["reason"] == "reused"


def test_unlock_and_lockdown_post_remote_commands(rig):
    st = rig.station
    good = st.command("unlock", seconds=7)
    bad = st.command("unlock", seconds=0)
    st.send(good)
    st.send(bad)
    assert st.wait_result(good["cmd_id"])["ok"] is True
    assert "seconds" in st.wait_result(bad["cmd_id"])["error"]
    assert [(p.action, p.args, p.cmd_id) for p in rig.posted] == [("unlock", {"seconds": 7.0}, good["cmd_id"])]
    assert _journaled(rig.journal, "command")[0] == {"cmd_id": good["cmd_id"], "action": "unlock", "args": {"seconds": 7}}
    assert _journaled(rig.journal, "command_rejected")[0]["reason"] == "invalid_arguments"


def test_passes_are_all_or_nothing_and_errors_name_entry_and_field(rig):
    st = rig.station
    bad = st.command("passes", upsert=[
        {"card": "DEADBEEF", "name": "Li Wei", "household": "3-401"},
        {"card": "01020304", "name": "Zhang", "valid_until": "next week"},
    ])
    st.send(bad)
    result = st.wait_result(bad["cmd_id"])
    assert result["ok"] is False and "upsert[1].valid_until" in result["error"]
    assert rig.passes.count() == 0  # nothing half-applied
    good = st.command("passes", upsert=[{"card": "de:ad:be:ef", "name": "Li Wei", "valid_until": "2030-01-01"}],
                      revoke=[])
    st.send(good)
    assert st.wait_result(good["cmd_id"])["upserted"] == 1
    revoke = st.command("passes", revoke=["DEADBEEF", "0A0B0C0D"])
    st.send(revoke)
    result = st.wait_result(revoke["cmd_id"])
    assert result["ok"] is True and result["revoked"] == 1 and result["unknown"] == ["0A0B0C0D"]
    assert rig.passes.get("DEADBEEF").revoked


def test_registered_actions_and_unknown_actions(rig):
    seen = []

    def ack(cmd):
        if "alarm_id" not in cmd:
            raise InputError("alarm_id: required")
        seen.append(cmd["alarm_id"])
        return {"acknowledged": cmd["alarm_id"]}

    rig.uplink.register_command("ack", ack)
    st = rig.station
    ok, missing, unknown = st.command("ack", alarm_id="a1"), st.command("ack"), st.command("dance")
    for obj in (ok, missing, unknown):
        st.send(obj)
    assert st.wait_result(ok["cmd_id"])["acknowledged"] == "a1" and seen == ["a1"]
    assert st.wait_result(missing["cmd_id"])["error"] == "invalid_arguments: alarm_id: required"
    assert st.wait_result(unknown["cmd_id"])["reason"] == "unknown_action"


def test_garbage_payload_is_rejected_as_malformed(rig):
    rig.station.client.publish(f"{rig.station.base}/cmd", b"\xff not json", qos=1).wait_for_publish(5)
    wait_for(lambda: _journaled(rig.journal, "command_rejected"), 5, "rejection")
    assert _journaled(rig.journal, "command_rejected")[0]["reason"] == "malformed"
    result = wait_for(lambda: rig.station.on("cmd/result"), 5, "answer")[0]
    # Nobody authenticated it: the answer is the bare reason; the detail stays at the gate.
    assert _unsealed(result) == {"cmd_id": "", "ok": False, "reason": "malformed", "error": "malformed"}
    assert _journaled(rig.journal, "command_rejected")[0]["detail"].startswith("not UTF-8")


def test_a_lone_surrogate_in_a_command_is_rejected_as_malformed_and_answered(rig):
    # Valid JSON ("\ud800" is an escape), but not Unicode text: it can be neither signed nor journaled as is.
    payload = json.dumps({"cmd_id": "c-\ud800", "gate": "test-gate", "action": "unlock", "sig": "00"}).encode()
    rig.station.client.publish(f"{rig.station.base}/cmd", payload, qos=1).wait_for_publish(5)
    hashed = safe_id("c-\ud800")  # an unauthenticated id of odd characters is echoed as a hash
    assert hashed.startswith("sha256:")
    result = rig.station.wait_result(hashed)
    assert _unsealed(result) == {"cmd_id": hashed, "ok": False, "reason": "malformed", "error": "malformed"}
    rejected = wait_for(lambda: _journaled(rig.journal, "command_rejected"), 5, "rejection journaled")
    assert rejected[0]["reason"] == "malformed" and rejected[0]["cmd_id"] == hashed
    assert "surrogate" in rejected[0]["detail"]
    assert rig.posted == []


def test_unlock_in_lockdown_is_refused_up_front(rig):
    state = {"mode": "lockdown"}
    rig.uplink.register_command("unlock", unlock_handler(rig.posted.append, SystemClock(), lambda: dict(state)))
    st = rig.station
    refused = st.command("unlock")
    st.send(refused)
    result = st.wait_result(refused["cmd_id"])
    assert result["ok"] is False and result["reason"] == "lockdown" and "lockdown" in result["error"]
    assert rig.posted == []
    assert _journaled(rig.journal, "command_rejected")[0]["reason"] == "lockdown"
    state["mode"] = "fire"  # the lock is released anyway: moot but harmless
    moot = st.command("unlock")
    st.send(moot)
    assert st.wait_result(moot["cmd_id"])["ok"] is True
    assert [p.action for p in rig.posted] == ["unlock"]


def test_a_flood_of_rejections_is_journaled_and_answered_at_a_bounded_rate(rig):
    clock = FakeClock()
    rig.uplink.rejections = RejectionLimiter(per_window=3, window_seconds=60, clock=clock)
    rig.uplink.answers = RejectionLimiter(per_window=4, window_seconds=60, clock=clock)
    st = rig.station
    flood = [st.command("unlock", key=b"forged", cmd_id=f"f{i}") for i in range(10)]
    for obj in flood:
        st.send(obj)
    for obj in flood[:4]:
        assert _unsealed(st.wait_result(obj["cmd_id"])) == {"cmd_id": obj["cmd_id"], "ok": False,
                                                            "reason": "bad_signature", "error": "bad_signature"}
    assert [r["cmd_id"] for r in _journaled(rig.journal, "command_rejected")] == ["f0", "f1", "f2"]
    unsigned = st.command("unlock", signed=False)  # another reason has its own budget
    st.send(unsigned)
    assert st.wait_result(unsigned["cmd_id"])["reason"] == "missing_signature"
    clock.advance(61)  # the window ends: one summary with the count
    summary = wait_for(lambda: [r for r in _journaled(rig.journal, "command_rejected") if "suppressed" in r],
                       5, "summary record")
    assert summary == [{"cmd_id": "", "action": "", "reason": "bad_signature", "suppressed": 7,
                        "window_seconds": 60, "detail": summary[0]["detail"]}]
    assert len(_journaled(rig.journal, "command_rejected")) == 5
    # The six payloads beyond the answer budget got no answer each, but one summary counting them.
    answers = wait_for(lambda: [a for a in st.on("cmd/result") if a.get("suppressed")], 5, "summary answer")
    assert [_unsealed(a) for a in answers] == [{"cmd_id": "", "ok": False, "reason": "bad_signature", "suppressed": 6, "window_seconds": 60,
                        "error": answers[0]["error"]}]
    assert not any(st.result(obj["cmd_id"]) for obj in flood[4:])


def test_rejection_limiter_windows_per_reason(fake_clock):
    limiter = RejectionLimiter(per_window=2, window_seconds=10, clock=fake_clock)
    assert [limiter.admit("stale") for _ in range(4)] == [True, True, False, False]
    assert limiter.admit("malformed") is True
    assert limiter.due() == []  # the window is still open
    fake_clock.advance(10)
    assert limiter.admit("stale") is True  # a new window; the old one's summary is due
    assert limiter.due() == [{"reason": "stale", "suppressed": 2, "window_seconds": 10}]
    assert limiter.due() == []
    limiter.admit("stale")
    limiter.admit("stale")
    assert limiter.due(flush=True) == [{"reason": "stale", "suppressed": 1, "window_seconds": 10}]


@pytest.mark.parametrize("protocol, executed", [("5", False), ("3.1.1", True)])
def test_a_retained_command_arriving_live(broker, tmp_path, protocol, executed):
    # MQTT 5 with retain-as-published keeps the retain flag on live delivery, so the gate rejects it.
    # MQTT 3.1.1 brokers must clear it on live delivery ([MQTT-3.3.1-9]): the gate cannot tell, and a
    # signed fresh command executes once (docs/uplink.md); it is rejected when redelivered on resubscribe.
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        uplink = make_uplink(journal, broker.port, protocol=protocol).start()
        try:
            wait_for(lambda: station.on("status"), 10, "gate status")
            cmd = station.command("replay", from_seq=1)
            station.send(cmd, retain=True)
            result = station.wait_result(cmd["cmd_id"])
            if executed:
                assert result["ok"] is True
            else:
                assert result["reason"] == "retained" and not journal.command_seen(cmd["cmd_id"])
        finally:
            uplink.close()
            station.client.publish(f"{station.base}/cmd", b"", qos=1, retain=True).wait_for_publish(5)
