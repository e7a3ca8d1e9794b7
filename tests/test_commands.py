"""Signed station commands through a real broker: every rejection journaled and answered; actions work."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.errors import InputError
from gate.events import RemoteCommand
from gate.passes import PassStore
from gate.remote_actions import lockdown_handler, passes_handler, unlock_handler
from gate.clock import SystemClock
from gate.timefmt import format_ts
from gatefixture import StationClient, wait_for
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
    assert result == {"cmd_id": "", "ok": False, "reason": "malformed", "error": result["error"]}
    assert result["error"].startswith("malformed: not JSON")
