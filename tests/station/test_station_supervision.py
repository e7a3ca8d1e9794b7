"""Station-side supervision (gate/station/supervision.py) on both store backends, with an injected
clock: a silent gate becomes one gate_silent alarm (one even with two instances on one store), the
gate's own sequence is untouched, hearing the gate closes it, the board and DC-09 see both."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from gate.dc09.link import ReceiverSettings
from gate.station.config import StationConfig
from gate.station.consumer import Received
from gate.station.receivers import StationForwarder
from gate.station.supervision import GATE_SILENT, Supervisor
from test_station_store import backend, open_store, rec  # noqa: F401 - the two-backend fixtures


class Heard:
    """What a supervisor handed to its listener (the consumer passes these on as NEW records)."""

    def __init__(self):
        self.items: list[tuple[str, str, dict]] = []

    def __call__(self, gate: str, kind: str, record: dict) -> None:
        self.items.append((gate, kind, record))


def supervisor(store, clock, thresholds=None, **kw) -> Supervisor:
    return Supervisor(store, thresholds or {"g1": 60.0, "g2": 120.0}, clock=clock, **kw)


def step(sup: Supervisor, clock, seconds: float, *, connected: bool = True) -> None:
    """Advance the clock in small steps, ticking like the consumer's worker does between batches."""
    for _ in range(int(seconds)):
        clock.advance(1.0)
        sup.tick(connected=connected)


def station_alarms(store) -> list:
    return [r for r in store.recent("alarm", limit=100) if r.type == GATE_SILENT]


def test_a_silent_gate_becomes_one_gate_silent_alarm_and_closes_when_heard(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)
    heard = Heard()
    sup = supervisor(store, fake_clock, emit=heard)
    sup.tick(connected=True)  # connected now: silence counts from here
    step(sup, fake_clock, 55)
    sup.heard("g2")
    step(sup, fake_clock, 4)
    assert station_alarms(store) == [] and heard.items == []  # 59 s: not yet
    step(sup, fake_clock, 2)
    (alarm,) = station_alarms(store)
    assert (alarm.gate, alarm.kind, alarm.seq, alarm.verified) == ("g1", "alarm", -1, True)
    assert alarm.record["origin"] == "station" and alarm.record["last_heard"] is None
    assert "mac" not in alarm.record and alarm.record["supervision_seconds"] == 60.0
    step(sup, fake_clock, 120)  # still silent: no second alarm; g2 (heard at 55 s) now too
    assert sorted((r.gate, r.seq) for r in station_alarms(store)) == [("g1", -1), ("g2", -1)]
    assert sup.open_alarms() == {"g1": -1, "g2": -1}

    # The gate is heard again: its own records keep their sequence, the alarm closes at once.
    assert store.add_records([("g1", "event", rec(1, "g1")), ("g1", "event", rec(2, "g1"))]) == ["new", "new"]
    sup.heard("g1")
    sup.tick(connected=True)
    closes = [r for r in store.recent("event", limit=10) if r.record.get("origin") == "station"]
    assert [(c.type, c.seq, c.record["alarm_seq"], c.record["by"]) for c in closes] == [("alarm_acknowledged", -2, -1, "station")]
    assert sup.open_alarms() == {"g2": -1}
    assert store.acked_by("g1", -1) == "station"
    assert store.gaps("g1") == [] and store.gate_state("g1").contiguous == 2 and store.gate_state("g1").max_seq == 2
    assert [(g, k, r["type"], r["seq"]) for g, k, r in heard.items] == [
        ("g1", "alarm", GATE_SILENT, -1), ("g2", "alarm", GATE_SILENT, -1), ("g1", "event", "alarm_acknowledged", -2)]

    # Silent again later (noticed within a tenth of its time): the next station seq, never a reused one.
    step(sup, fake_clock, 66)
    assert sup.open_alarms()["g1"] == -3


def test_two_instances_on_one_store_raise_and_close_once(open_store, fake_clock):
    stores = [open_store("s.db", clock=fake_clock), open_store("s.db", clock=fake_clock)]
    gates = {f"g{i}": 10.0 for i in range(8)}
    heard = [Heard(), Heard()]
    sups = [Supervisor(s, gates, clock=fake_clock, emit=h, check_every=0.5) for s, h in zip(stores, heard)]
    for s in sups:
        s.tick(connected=True)
    fake_clock.advance(11)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(sup: Supervisor) -> None:
        try:
            barrier.wait(5)
            sup._tick(True)  # the unguarded tick: an error must fail the test, not be logged
            for g in gates:
                sup.heard(g)
            barrier.wait(5)
            sup._tick(True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in sups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and not any(t.is_alive() for t in threads)
    raised = [(g, r["seq"]) for h in heard for g, k, r in h.items if k == "alarm"]
    closed = [(g, r["alarm_seq"]) for h in heard for g, k, r in h.items if k == "event"]
    assert sorted(raised) == sorted(closed) == [(g, -1) for g in sorted(gates)]  # each once, by one of the two
    assert len(station_alarms(stores[0])) == 8 and sups[1].open_alarms() == {}


def test_no_alarm_while_the_station_has_no_broker_and_silence_counts_from_the_reconnect(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)
    sup = supervisor(store, fake_clock, {"g1": 30.0})
    sup.tick(connected=True)
    step(sup, fake_clock, 20)
    step(sup, fake_clock, 100, connected=False)  # the station's own outage: every gate is quiet
    assert station_alarms(store) == []
    step(sup, fake_clock, 29)
    assert station_alarms(store) == []
    step(sup, fake_clock, 2)
    assert [r.gate for r in station_alarms(store)] == ["g1"]


def test_a_quiet_gate_is_probed_at_half_its_time_and_an_answer_keeps_it_supervised(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)
    probes: list[str] = []
    sup = supervisor(store, fake_clock, {"g1": 60.0, "off": 0.0}, probe=probes.append)
    assert "off" not in sup.thresholds  # 0: not supervised at all
    sup.tick(connected=True)
    step(sup, fake_clock, 29)
    assert probes == []
    step(sup, fake_clock, 2)
    assert probes == ["g1"]
    sup.heard("g1")  # the gate's signed answer to the probe
    step(sup, fake_clock, 29)
    assert probes == ["g1"] and station_alarms(store) == []
    step(sup, fake_clock, 35)  # no answer this time: probed again at 30 s, alarm at 60 s (checked every 5 s)
    assert probes == ["g1", "g1"] and [r.gate for r in station_alarms(store)] == ["g1"]


def test_a_failing_probe_or_listener_never_stops_the_alarm(open_store, fake_clock):
    store = open_store("s.db", clock=fake_clock)

    def broken(*args):
        raise OSError("no secret file")

    sup = supervisor(store, fake_clock, {"g1": 10.0}, probe=broken, emit=broken)
    sup.tick(connected=True)
    step(sup, fake_clock, 11)
    assert [r.gate for r in station_alarms(store)] == ["g1"]


def test_the_board_shows_the_station_alarm_open_then_closed_by_the_station(tmp_path, fake_clock):
    from gate.station.console_store import ConsoleStore
    from gate.station.store import StationStore

    path = tmp_path / "s.db"
    with StationStore(path, clock=fake_clock) as store, \
            ConsoleStore(path, clock=fake_clock, gate_names={"g1": "North gate"}) as console:
        sup = supervisor(store, fake_clock, {"g1": 10.0})
        sup.tick(connected=True)
        step(sup, fake_clock, 11)
        rows, counts = console.board()
        assert [(r.gate_name, r.type, r.state) for r in rows] == [("North gate", GATE_SILENT, "new")]
        assert counts["new"] == 1 and rows[0].to_json("UTC")["details"]["origin"] == "station"
        fake_clock.advance(5)
        sup.heard("g1")
        sup.tick(connected=True)
        rows, counts = console.board()
        assert [(r.state, r.closed_by) for r in rows] == [("closed", "station")] and counts["open"] == 0
        assert rows[0].closed_at == "2026-11-29T10:00:16.000Z"  # when it was heard again


def test_dc09_gets_communication_trouble_and_its_restore(tmp_path, fake_clock):
    cfg = replace(StationConfig(store=str(tmp_path / "s.db")), receivers_outbox=str(tmp_path / "dc09.db"),
                  receivers=(ReceiverSettings("arc", (("127.0.0.1", 1),), account="4701"),))
    forwarder = StationForwarder(cfg, clock=fake_clock)  # never started: the outbox alone is checked
    try:
        from gate.station.store import StationStore

        with StationStore(cfg.store, clock=fake_clock) as store:
            sup = supervisor(store, fake_clock, {"g1": 10.0},
                             emit=lambda g, k, r: forwarder.on_record(Received(g, k, r, "new", True)))
            sup.tick(connected=True)
            step(sup, fake_clock, 11)
            sup.heard("g1")
            sup.tick(connected=True)
        items = forwarder.forwarder.outbox.items("arc")
        assert [(i.source, i.code) for i in items] == [("g1#-1", "E350"), ("g1#-2", "R350")]
        assert items[0].data.startswith("#4701|1350 01 ")
    finally:
        forwarder.close()
