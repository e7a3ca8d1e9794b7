"""The MQTT session and the outbox's per-session books: ordering on connect, PUBACKs of old sessions,
an unexpected failure in the session thread."""
from __future__ import annotations

import threading

from gate.store.journal import Journal
from gate.uplink.session import MqttSession, SessionSettings
from gate.uplink.outbox import Outbox
from gatefixture import wait_for


def _settings(port: int) -> SessionSettings:
    return SessionSettings("127.0.0.1", port, client_id="gate-session-test", keepalive_seconds=5,
                           reconnect_min_seconds=0.05, reconnect_max_seconds=0.2)


def test_on_up_runs_before_the_session_counts_as_connected(broker):
    seen: list[tuple[str, bool, int]] = []
    ready = threading.Event()

    def on_up(session):
        seen.append(("up", session.connected, session.session_no))

    def on_ready():
        seen.append(("ready", session.connected, session.session_no))
        ready.set()

    session = MqttSession(_settings(broker.port), on_up=on_up, on_ready=on_ready)
    with session:
        assert ready.wait(10)
        # Nothing can be published on session 1 before its bookkeeping (on_up) is done.
        assert seen == [("up", False, 1), ("ready", True, 1)]
        assert session.publish("t/x", b"1", session=1) is not None
        assert session.publish("t/x", b"1", session=2) is None  # not the current session


def test_an_unexpected_failure_in_the_session_thread_does_not_end_reconnection(broker):
    session = MqttSession(_settings(broker.port))
    real_new_client = session._new_client
    attempts = []

    def failing_new_client():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("injected: building the client failed")
        client = real_new_client()
        if len(attempts) == 2:  # the second connection dies of an exception inside the loop
            real_loop, calls = client.loop, []

            def loop(*args, **kwargs):
                calls.append(1)
                if len(calls) == 20:
                    raise RuntimeError("injected: the network loop failed")
                return real_loop(*args, **kwargs)

            client.loop = loop
        return client

    session._new_client = failing_new_client
    with session:
        wait_for(lambda: session.connects >= 2 and session.connected, 10, "reconnect after both injected failures")
        assert len(attempts) >= 3 and session.disconnects >= 1


def test_a_failing_ack_handler_does_not_kill_the_session(broker):
    def on_ack(mid, session_no):
        raise ValueError("injected: ack handler bug")

    with MqttSession(_settings(broker.port), on_ack=on_ack) as session:
        assert session.wait_connected(10)
        assert session.publish_and_wait("t/x", b"1", timeout=5)  # its PUBACK hit the failing handler
        assert session.publish_and_wait("t/x", b"2", timeout=5)  # and the session is still working
        assert session.connects == 1


def test_a_puback_of_an_old_session_never_completes_a_record_of_a_new_one(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.append_many([("door_opened", {})] * 2)
        outbox = Outbox(journal)
        outbox.session_started(1)
        (first, second) = outbox.next_batch()
        outbox.sent(1, first, 1)
        outbox.acked(5, 1)  # a PUBACK for a message this outbox never booked (overtaking or stray)
        outbox.session_ended()
        outbox.session_started(2)
        assert outbox.acked(1, 1) is False  # session 1's PUBACK for mid 1 arrives late
        (again_first, again_second) = outbox.next_batch()
        outbox.sent(1, again_first, 2)  # the same mid in the new session
        outbox.sent(5, again_second, 2)  # the stray mid-5 PUBACK of session 1 must not complete this
        assert outbox.take_acked() == [] and outbox.in_flight == 2
        outbox.sent(9, again_first, 1)  # booking on an old session is ignored
        assert outbox.in_flight == 2
        assert outbox.acked(5, 2) is True and outbox.take_acked() == [2]


def test_records_not_published_are_taken_again_in_the_same_session(tmp_path):
    with Journal(tmp_path / "j.db", "g") as journal:
        journal.append_many([("door_opened", {}), ("forced_open", {}), ("door_closed", {})])
        outbox = Outbox(journal)
        outbox.session_started(1)
        batch = outbox.next_batch()
        assert [o.record.seq for o in batch] == [2, 1, 3]  # the alarm first
        outbox.sent(1, batch[0], 1)
        outbox.unsent(batch[1:])  # the connection went before these were published
        assert [o.record.seq for o in outbox.next_batch()] == [1, 3]
