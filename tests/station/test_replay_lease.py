"""Coordinated replay asks on PostgreSQL: one lease per (gate, purpose), so N consumers in one shared
group ask a gate once, and a dead holder's lease expires so a sibling takes over. Real PostgreSQL
(tests/pgserver.py), real mosquitto, a fake gate that keeps a gap open by not answering."""
from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from gate.clock import FakeClock
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.replay_lease import GAP, PROBE, PgReplayLease, lease_for
from gate.station.store_pg import PgStationStore
from gate.uplink import signing
from fakegate import PREFIX, FakeGate
from gatefixture import wait_for


def test_one_holder_at_a_time_renewal_and_expiry(pg_url):
    clock = FakeClock()
    with PgStationStore(pg_url, clock=clock) as store:
        a, b = PgReplayLease(store.pool, "a", clock), PgReplayLease(store.pool, "b", clock)
        assert isinstance(lease_for(store, "a", clock), PgReplayLease)
        assert a.take("g1", GAP, 10.0)
        assert not b.take("g1", GAP, 10.0), "held by a"
        assert b.take("g1", PROBE, 10.0) and b.take("g2", GAP, 10.0), "other purposes and gates are apart"
        clock.advance(9.0)
        assert a.take("g1", GAP, 10.0), "the holder renews"
        clock.advance(9.5)
        assert not b.take("g1", GAP, 10.0), "renewed: still a's"
        clock.advance(1.0)
        assert b.take("g1", GAP, 10.0), "expired: b takes it"
        assert not a.take("g1", GAP, 10.0)
        assert a.holder_of("g1", GAP)[0] == "b"


def test_racing_instances_get_the_lease_once(pg_url):
    clock = FakeClock()
    with PgStationStore(pg_url, clock=clock, max_connections=8) as store:
        leases = [PgReplayLease(store.pool, f"i{n}", clock) for n in range(8)]
        won: list[str] = []
        start = threading.Barrier(len(leases))

        def race(lease):
            start.wait()
            if lease.take("g", GAP, 30.0):
                won.append(lease.holder)
        threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(won) == 1


@pytest.mark.slow
def test_two_consumers_ask_a_gap_once_and_a_sibling_takes_over_when_the_holder_dies(broker, tmp_path: Path, pg_url):
    secret = tmp_path / "g.secret"
    secret.write_text(uuid.uuid4().hex + "\n")
    gate = FakeGate(broker.port, "g", signing.load_secret(secret))
    asks: list[dict] = []
    answering = threading.Event()
    answer = gate.client.on_message

    def on_command(client, userdata, msg):  # a gate that does not answer keeps the gap open
        asks.append(json.loads(msg.payload))
        if answering.is_set():
            answer(client, userdata, msg)
    gate.client.on_message = on_command
    cfg = StationConfig(store=pg_url, port=broker.port, topic_prefix=PREFIX, shared_group="officers",
                        grace_seconds=0.1, retry_initial_seconds=0.2, retry_max_seconds=0.4,
                        gate_secrets={"g": str(secret)})
    a = StationConsumer(cfg, client_id="station-a").start()
    b = StationConsumer(cfg, client_id="station-b").start()
    try:
        for n in range(10):
            gate.emit("access_granted", publish=n < 5)  # seqs 6..10 never reach the broker
        gate.publish_status()  # last_seq 10: both instances see the gap 6..10
        wait_for(lambda: a.stats["gap_asks"] + b.stats["gap_asks"] >= 4, 15.0, what="four asks for the gap")
        wait_for(lambda: a.stats["replays_left_to_sibling"] + b.stats["replays_left_to_sibling"] >= 1, 15.0,
                 what="the sibling finding the lease held")
        holder, other = (a, b) if a.stats["gap_asks"] else (b, a)
        assert other.stats["gap_asks"] == 0, "one instance asks for the gap, not both"
        gap_asks = [(c["from_seq"], c["to_seq"]) for c in asks if c["to_seq"] <= 10]  # not the first probe
        assert len(gap_asks) >= 4 and set(gap_asks) == {(6, 10)}, gap_asks
        holder.close()  # its lease runs out; the sibling asks next
        wait_for(lambda: other.stats["gap_asks"] >= 1, 15.0, what="the sibling asking once the lease expired")
        answering.set()
        wait_for(lambda: other.store.seqs("g") == list(range(1, 11)) and not other.store.gaps(), 15.0, what="gap filled")
    finally:
        a.close()
        b.close()
        gate.close()
