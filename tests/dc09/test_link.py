"""Delivery to DC-09 receivers: pysiaalarm as the real receiver, small hostile ones for the rest."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gate.dc09.link import ReceiverSettings
from gate.dc09.outbox import Outbox
from gate.dc09.service import Dc09Forwarder
from hostile import HostileReceiver, answer, seq_of
from siareceiver import SiaReceiver

pytest.importorskip("pysiaalarm")

KEY = "0123456789ABCDEF0123456789ABCDEF"


class StepClock:
    """Real wall time (the receiver checks timestamps) shifted by `skew`; a monotonic clock that
    moves only when told (supervision and backoff run on it)."""

    def __init__(self, skew: timedelta = timedelta(0), manual: bool = False):
        self.skew, self.manual, self._mono = skew, manual, 1000.0

    def wall(self) -> datetime:
        return datetime.now(timezone.utc) + self.skew

    def monotonic(self) -> float:
        return self._mono if self.manual else time.monotonic()

    def advance(self, seconds: float) -> None:
        self._mono += seconds


def settings(port: int, **kw) -> ReceiverSettings:
    base = dict(name=f"arc-{port}", addresses=(("127.0.0.1", port),), account="1234", supervision_seconds=0,
                ack_timeout_seconds=1.0, retry_initial_seconds=0.05, retry_max_seconds=0.2)
    base.update(kw)
    return ReceiverSettings(**base)


def record(gate: str, seq: int, type_: str, **fields) -> dict:
    return {"gate": gate, "seq": seq, "id": uuid.uuid4().hex, "type": type_, "historical": False,
            "ts": datetime.now(timezone.utc).isoformat(), **fields}


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.01)
    return value


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes256"])
def test_alarms_arrive_with_their_codes_and_the_gates_account(tmp_path, encrypted):
    key = KEY if encrypted else None
    with SiaReceiver({"ABCD": key, "1234": key}) as rx, \
            Dc09Forwarder([settings(rx.port, key=key.encode() if key else None)], tmp_path / "out.db",
                          accounts={"gate-a": "ABCD"}) as fwd:
        fwd.submit(record("gate-a", 1, "forced_open"))
        fwd.submit(record("gate-a", 2, "duress", guard="guard-7"))
        fwd.submit(record("gate-b", 1, "tamper", device="enclosure"))
        fwd.submit(record("gate-a", 3, "alarm_cleared", alarm="forced_open"))
        fwd.submit(record("gate-a", 4, "access_granted", card="04A1B2C3"))  # not an alarm: not sent
        events = rx.wait(lambda ev: len(ev) >= 4, what="4 alarms")
    got = [(e["account"], e["event_qualifier"], e["event_type"], e["code"], e["ri"], e["encrypted"]) for e in events]
    assert got == [("ABCD", "1", "423", "DF", "001", encrypted), ("ABCD", "1", "121", "HA", "007", encrypted),
                   ("1234", "1", "137", "TA", "001", encrypted), ("ABCD", "3", "423", "DF", "001", encrypted)]
    assert fwd.stats["skipped"] == 1


def test_sia_dcs_format(tmp_path):
    with SiaReceiver({"1234": None}) as rx, Dc09Forwarder([settings(rx.port, format="SIA-DCS")], tmp_path / "o.db") as fwd:
        fwd.submit(record("g", 1, "forced_open"))
        fwd.submit(record("g", 2, "alarm_cleared", alarm="tamper", device="enclosure"))
        events = rx.wait(lambda ev: len(ev) >= 2)
    assert [(e["message_type"], e["code"]) for e in events] == [("SIA-DCS", "DF"), ("SIA-DCS", "TR")]


def test_nak_for_a_wrong_clock_is_answered_with_the_receivers_time(tmp_path):
    """Our clock is 10 minutes slow: pysiaalarm NAKs; the link resends stamped with the receiver's
    time from the NAK, and the alarm is accepted."""
    clock = StepClock(skew=timedelta(minutes=-10))
    with SiaReceiver({"1234": KEY}) as rx, \
            Dc09Forwarder([settings(rx.port, key=KEY.encode())], tmp_path / "o.db", clock=clock) as fwd:
        fwd.submit(record("g", 1, "forced_open", ts=clock.wall().isoformat()))
        events = rx.wait(lambda ev: len(ev) >= 1)
        assert events[0]["event_type"] == "423"
        status = fwd.status()[0]
    assert status["naks"] >= 1 and status["state"] == "up" and status["acked"] == 1


def test_duh_is_logged_counted_and_set_aside_and_the_next_alarm_follows(tmp_path, caplog):
    def respond(frame, n):
        return answer("DUH" if n == 1 else "ACK", seq_of(frame))

    with HostileReceiver(respond) as rx, Dc09Forwarder([settings(rx.port)], tmp_path / "o.db") as fwd:
        fwd.submit(record("g", 1, "forced_open"))
        fwd.submit(record("g", 2, "tamper"))
        wait_for(lambda: fwd.status()[0]["acked"] == 1, what="second alarm acknowledged")
        status = fwd.status()[0]
        box = fwd.outbox
        assert [i.source for i in box.items(status["name"], "rejected")] == ["g#1"]
        assert [i.source for i in box.items(status["name"], "acked")] == ["g#2"]
    assert status["rejected"] == 1 and status["last_rejected"]["source"] == "g#1" and status["pending"] == 0
    assert any("DUH" in r.message and r.levelname == "ERROR" for r in caplog.records)
    assert len(rx.frames) == 2  # a DUH is not resent


@pytest.mark.parametrize("bad", ["garbage", "wrong_seq", "other_account", "huge"])
def test_bad_answers_are_not_taken_for_an_ack(tmp_path, bad):
    """Garbage, an ACK for another sequence or account, megabytes without a CR: none counts as the
    ACK; the same message (same sequence) is resent until the right ACK comes."""
    def respond(frame, n):
        if n >= 3:
            return answer("ACK", seq_of(frame))
        return {"garbage": b"\n\x00\xffnot a frame\r", "wrong_seq": answer("ACK", f"{int(seq_of(frame)) + 1:04d}"),
                "other_account": answer("ACK", seq_of(frame), "9999"), "huge": b"A" * 200_000}[bad]

    with HostileReceiver(respond) as rx, Dc09Forwarder([settings(rx.port, ack_timeout_seconds=0.3)], tmp_path / "o.db") as fwd:
        fwd.submit(record("g", 1, "forced_open"))
        wait_for(lambda: fwd.status()[0]["acked"] == 1, what="the ACK after two bad answers")
        status = fwd.status()[0]
    assert len({seq_of(f) for f in rx.frames}) == 1 and len(rx.frames) == 3
    assert status["garbage"] >= 2 and status["failures"] >= 2


def test_a_receiver_that_never_answers_blocks_nothing_and_the_backup_takes_over(tmp_path):
    """The primary accepts and never answers: submit() still returns at once (it only writes the
    outbox), and after `retries_per_address` silent attempts the backup receiver gets the alarms."""
    with HostileReceiver(lambda frame, n: None) as silent, SiaReceiver({"1234": None}) as backup:
        s = settings(silent.port, addresses=(("127.0.0.1", silent.port), ("127.0.0.1", backup.port)),
                     ack_timeout_seconds=1.0, retries_per_address=2)
        with Dc09Forwarder([s], tmp_path / "o.db") as fwd:
            fwd.submit(record("g", 1, "forced_open"))
            silent.wait_frames(1)  # the link now waits for an answer that never comes
            done = threading.Event()
            submitter = threading.Thread(target=lambda: ([fwd.submit(record("g", i, "tamper", device=f"d{i}"))
                                                          for i in range(2, 12)], done.set()))
            submitter.start()
            submitter.join(5)
            assert done.is_set(), "submit() waited on the silent receiver"
            assert fwd.outbox.count(s.name) == 11
            events = backup.wait(lambda ev: len(ev) >= 11, what="all alarms at the backup")
            status = fwd.status()[0]
    assert [e["event_type"] for e in events] == ["423"] + ["137"] * 10
    assert [e["ri"] for e in events[1:]] == [f"{i:03d}" for i in range(2, 12)]
    assert status["address"] == f"127.0.0.1:{backup.port}" and status["state"] == "up"


def test_supervision_sends_null_at_the_configured_interval(tmp_path):
    """On a clock that moves only when told: no NULL before `supervision_seconds` of silence, one
    each time the interval passes, and an alarm restarts the interval (DC-09 §5.5.2)."""
    clock = StepClock(manual=True)
    with SiaReceiver({"1234": None}) as rx, \
            Dc09Forwarder([settings(rx.port, supervision_seconds=60)], tmp_path / "o.db", clock=clock) as fwd:
        link = fwd.links[fwd.receivers[0].name]
        nulls = lambda: [e for e in rx.events if e["message_type"] == "NULL"]  # noqa: E731
        clock.advance(59)
        fwd.submit(record("g", 1, "forced_open"))  # traffic at t+59 restarts the interval
        rx.wait(lambda ev: len(ev) == 1)
        wait_for(lambda: link.status()["acked"] == 1, what="the link saw the ACK")
        clock.advance(59)
        threading.Event().wait(0.6)  # the link loop looks every 0.2 s: three looks, no NULL due yet
        assert nulls() == []
        clock.advance(1)
        rx.wait(lambda ev: len(nulls()) == 1, what="first NULL")
        wait_for(lambda: link.status()["acked"] == 2, what="the link saw the NULL's ACK")
        clock.advance(60)
        rx.wait(lambda ev: len(nulls()) == 2, what="second NULL")
        assert link.status()["supervision_sent"] == 2 and link.status()["last_supervision_at"]


def test_outbox_survives_a_restart_and_the_sequence_continues(tmp_path):
    path = tmp_path / "o.db"
    with HostileReceiver(lambda f, n: None) as dead:
        port = dead.port
    s = settings(port, name="arc")
    with Dc09Forwarder([s], path) as fwd:  # nobody listens: connection refused
        for i in range(1, 4):
            fwd.submit(record("g", i, "forced_open"))
        wait_for(lambda: fwd.status()[0]["state"] == "down", what="link down")
        assert fwd.submit(record("g", 1, "forced_open")) == 0  # the same record twice is queued once
    with SiaReceiver({"1234": None}, port=port) as rx, Dc09Forwarder([s], path) as fwd:
        events = rx.wait(lambda ev: len(ev) >= 3)
        wait_for(lambda: fwd.outbox.count("arc") == 0, what="outbox empty")
    assert [e["event_type"] for e in events] == ["423"] * 3
    seqs = [int(e["sequence"]) for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with Outbox(path) as box:
        assert box.take_seq("arc") == seqs[-1] + 1 and box.saved_status()["arc"]["state"] == "up"
