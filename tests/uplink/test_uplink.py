"""The uplink against a real mosquitto: live delivery, status, outages, a frozen broker, replay."""
from __future__ import annotations

import pytest

from broker import MosquittoBroker
from gatefixture import StationClient, wait_for
from uplinkfixture import make_uplink, open_journal


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_live_records_and_status(broker, tmp_path, protocol):
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        journal.append("daemon_started")  # before the session: delivered late
        uplink = make_uplink(journal, broker.port, protocol=protocol).start()
        try:
            status = wait_for(lambda: station.on("status"), 10, "status")[0]
            assert status["online"] is True and status["gate"] == "test-gate" and status["last_seq"] == 1
            assert status["backlog"] == 1 and status["mode"] == "normal" and "ts" in status
            assert status["health"] == {"ok": False, "faulty_devices": {"rfid": "no answer"}}
            wait_for(lambda: station.has_seqs(1, 1), 10, "backlog record")
            for rec in journal.append_many([("door_opened", {}), ("forced_open", {})]):
                uplink.on_record(rec)
            wait_for(lambda: station.has_seqs(1, 3), 5, "live records")
            by_seq = {r["seq"]: r for r in station.records()}
            assert by_seq[1]["historical"] is True
            assert by_seq[2]["historical"] is False and by_seq[3]["historical"] is False
            assert [a["seq"] for a in station.on("alarm")] == [3]
            assert [e["seq"] for e in station.on("event")] == [1, 2]
            assert wait_for(lambda: journal.backlog() == 0, 5, "all marked delivered")
        finally:
            uplink.close()
            uplink.close()
        assert wait_for(lambda: station.on("status")[-1]["online"] is False, 5, "offline status")


def test_broker_killed_while_5000_events_happen(tmp_path):
    # Persistence (autosaved every second) keeps the station's session across the kill, so the
    # station is subscribed again the moment the broker is back, whoever reconnects first.
    broker = MosquittoBroker(persistence=True, extra_conf="autosave_interval 1")
    broker.dir.chmod(0o777)  # mosquitto started as root drops to its own user before it saves
    broker.start()
    try:
        with open_journal(tmp_path) as journal:
            station = StationClient(broker.port, client_id="station-1", clean=False).connect()
            uplink = make_uplink(journal, broker.port, max_in_flight=200).start()
            try:
                assert uplink.session.wait_connected(10)
                db = broker.dir / "mosquitto.db"
                wait_for(db.exists, 10, "mosquitto autosave")
                broker.kill()
                wait_for(lambda: not uplink.connected, 10, "the gate to notice the dead broker")
                for chunk in range(50):  # 5,000 records, 1 in 50 an alarm
                    recs = journal.append_many([("forced_open" if i == 0 else "door_opened", {"n": chunk * 100 + i})
                                                for i in range(100)])
                    for rec in recs:
                        uplink.on_record(rec)
                assert journal.backlog() == 5000
                broker.start()
                station.client.reconnect()
                wait_for(lambda: station.has_seqs(1, 5000), 30, "all 5,000 records at the station")
                records = station.records()
                assert {r["seq"] for r in records} == set(range(1, 5001))  # gapless, nothing extra
                assert all(r["historical"] is True for r in records)
                firsts: dict[int, dict] = {}
                for r in station.on("event"):
                    firsts.setdefault(r["seq"], r)
                assert list(firsts) == sorted(firsts)  # ordinary records arrive in seq order
                assert wait_for(lambda: journal.backlog() == 0, 10, "backlog marked delivered")
            finally:
                uplink.close()
                station.close()
    finally:
        broker.close()


def test_frozen_broker_is_noticed_within_one_and_a_half_keepalives(broker, tmp_path):
    keepalive = 5
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        uplink = make_uplink(journal, broker.port, keepalive=keepalive).start()
        try:
            assert uplink.session.wait_connected(10)
            journal.append("door_opened")
            wait_for(lambda: station.has_seqs(1, 1), 5, "first record")
            broker.freeze()
            try:
                for rec in journal.append_many([("door_closed", {}), ("tamper", {})]):
                    uplink.on_record(rec)
                wait_for(lambda: not uplink.connected, 1.5 * keepalive, "the gate to notice the frozen broker")
            finally:
                broker.thaw()
            wait_for(lambda: uplink.session.connects >= 2, 15, "reconnect after thaw")
            wait_for(lambda: station.has_seqs(1, 3), 15, "records held during the freeze")
            assert wait_for(lambda: journal.backlog() == 0, 5, "delivered")
        finally:
            uplink.close()


def test_replay_fills_a_gap_left_by_a_broker_restart_without_persistence(broker, tmp_path):
    with open_journal(tmp_path) as journal:
        # The station is offline with a persistent session: the broker accepts the gate's records for it.
        station = StationClient(broker.port, client_id="station-1", clean=False).connect()
        station.close()
        uplink = make_uplink(journal, broker.port).start()
        try:
            for rec in journal.append_many([("door_opened", {"n": i}) for i in range(50)]):
                uplink.on_record(rec)
            wait_for(lambda: journal.backlog() == 0, 10, "broker PUBACKs")
            broker.stop()
            broker.start()  # persistence off: the station's queued records are gone
            station = StationClient(broker.port, client_id="station-1", clean=False).connect()
            wait_for(lambda: uplink.connected, 10, "gate reconnect")
            assert station.seqs() == set()
            cmd = station.command("replay", from_seq=1)
            station.send(cmd)
            result = station.wait_result(cmd["cmd_id"])
            assert result["ok"] is True and result["from_seq"] == 1 and result["to_seq"] >= 50
            wait_for(lambda: station.has_seqs(1, 50), 10, "replayed records")
            assert all(r["historical"] is True for r in station.records() if r["seq"] <= 50)
            assert [r.type for r in journal.records(record_type="command")][-1] == "command"
            station.close()
        finally:
            uplink.close()


def test_status_is_republished_when_the_gate_state_changes(broker, tmp_path):
    state = {"mode": "normal", "lock": "locked", "door": "closed", "faulty_devices": {}, "active_alarms": []}
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        uplink = make_uplink(journal, broker.port, snapshot=lambda: dict(state)).start()
        try:
            wait_for(lambda: station.on("status"), 10, "first status")
            fire_alarm = [{"type": "fire_release", "alarm_id": "a1", "seq": 1, "cleared": False, "acknowledged": False}]
            state.update(mode="fire", lock="unlocked", active_alarms=fire_alarm)
            uplink.on_record(journal.append("fire_release"))
            wait_for(lambda: station.on("status")[-1].get("mode") == "fire", 5, "status in fire mode")
            assert station.on("status")[-1]["active_alarms"] == fire_alarm
            # The fire clears: no record type is special, the changed snapshot alone republishes.
            state.update(mode="normal", lock="locked", active_alarms=[])
            wait_for(lambda: station.on("status")[-1].get("mode") == "normal", 5, "status back to normal")
            last = station.on("status")[-1]
            assert last["lock"] == "locked" and last["active_alarms"] == [] and last["online"] is True
            count = len(station.on("status"))
            uplink.on_record(journal.append("door_opened"))  # a record that changes nothing reported
            wait_for(lambda: journal.backlog() == 0, 5, "record delivered")
            assert len(station.on("status")) == count
        finally:
            uplink.close()


def test_status_reports_only_a_durable_last_seq(broker, tmp_path):
    with open_journal(tmp_path) as journal, StationClient(broker.port) as station:
        rec = journal.append("door_opened")  # an ordinary record: committed NORMAL, not yet fsynced
        journal.mark_delivered([rec.seq])  # nothing to publish, so only the status can sync it
        synced: list[int] = []
        real = journal.ensure_durable
        journal.ensure_durable = lambda seq: (synced.append(seq), real(seq))[1]
        uplink = make_uplink(journal, broker.port).start()
        try:
            status = wait_for(lambda: station.on("status"), 10, "status")[0]
            assert status["last_seq"] == rec.seq and rec.seq in synced
        finally:
            uplink.close()
