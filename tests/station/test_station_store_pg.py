"""The PostgreSQL station store beyond the shared store tests: concurrent writers on one gate, two
consumers of one shared subscription on one database (real mosquitto, a fake gate), and the commands
that work or refuse clearly on a PostgreSQL store."""
from __future__ import annotations

import argparse
import threading
import uuid
from dataclasses import replace

from gate.station.cli import add_station_parser, run_station
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer
from gate.station.store import NEW, open_station_store
from gate.uplink import signing
from fakegate import PREFIX, FakeGate
from test_station_consumer import wait_for


def rec(seq: int, gate: str) -> dict:
    return {"gate": gate, "seq": seq, "id": f"{gate}-{seq}", "ts": "2026-11-29T10:00:00.123Z",
            "type": "access_granted", "historical": False}


def test_two_writers_on_the_same_gates_store_each_seq_once_and_agree_on_the_sequence(pg_url):
    gates = ["a", "b", "c"]
    stores = [open_station_store(pg_url), open_station_store(pg_url)]
    outcomes: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for start in range(1, 301, 20):  # both writers offer every record, gates in opposite orders
                order = gates if i == 0 else gates[::-1]
                outcomes[i] += stores[i].add_records(
                    [(g, "event", rec(s, g)) for g in order for s in range(start, start + 20)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors and not any(t.is_alive() for t in threads)
        assert sum(o.count(NEW) for o in outcomes) == 900  # each (gate, seq) new for exactly one writer
        assert stores[0].count() == 900 and stores[1].gaps() == []
        assert [stores[1].gate_state(g).contiguous for g in gates] == [300, 300, 300]
        assert stores[0].conflicts() == []
    finally:
        for s in stores:
            s.close()


def test_two_consumers_of_one_shared_group_store_a_flood_once_on_postgresql(broker, tmp_path, pg_url):
    fakes, secret_map = [], {}
    for i in range(3):
        path = tmp_path / f"g{i}.secret"
        path.write_text(uuid.uuid4().hex + "\n")
        fakes.append(FakeGate(broker.port, f"g{i}", signing.load_secret(path)))
        secret_map[f"g{i}"] = str(path)
    cfg = replace(StationConfig(client_id="station", store=pg_url, port=broker.port, topic_prefix=PREFIX,
                                grace_seconds=0.1, retry_initial_seconds=0.3, retry_max_seconds=1.0,
                                gate_secrets=secret_map), shared_group="officers")
    try:
        with StationConsumer(cfg, client_id="station-a") as a, StationConsumer(cfg, client_id="station-b") as b, \
                open_station_store(pg_url) as store:
            for n in range(200):
                for g in fakes:
                    g.emit("fever" if n % 50 == 0 else "access_granted", temperature_c=38.0)
            wait_for(lambda: store.count() == 600 and not store.gaps(), what="600 records, no gaps")
            for g in fakes:
                assert store.seqs(g.gate) == list(range(1, 201))
            assert a.stats["stored"] > 0 and b.stats["stored"] > 0, "the broker must split the load"
            assert a.stats["stored"] + b.stats["stored"] == 600  # each record stored exactly once across both
            assert store.conflicts() == []
    finally:
        for g in fakes:
            g.close()


def _station(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gatectl")
    add_station_parser(parser.add_subparsers(dest="command", required=True))
    return run_station(parser.parse_args(argv))


def test_gaps_works_and_the_web_console_refuses_clearly_on_a_postgresql_store(tmp_path, pg_url, capsys):
    conf = tmp_path / "station.toml"
    (tmp_path / "k").write_text(uuid.uuid4().hex + "\n")
    conf.write_text(f'[station]\nstore = "{pg_url}"\n[gates.north]\nsecret_file = "k"\n')
    with open_station_store(pg_url) as store:
        store.set_status("north", {"online": True, "gate": "north", "last_seq": 2})
    assert _station(["station", "-c", str(conf), "gaps"]) == 0
    assert "north: 1-2 (2 missing" in capsys.readouterr().out  # the URL reached the store as a URL
    assert _station(["station", "-c", str(conf), "serve"]) == 2
    assert "serve (the web console) needs a SQLite store file for now" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "postgresql:").exists()  # no stray SQLite file


def test_a_conflicting_record_through_the_consumer_is_set_aside_and_reported_on_postgresql(
        broker, tmp_path, pg_url, caplog):
    path = tmp_path / "west.secret"
    path.write_text(uuid.uuid4().hex + "\n")
    gate = FakeGate(broker.port, "west", signing.load_secret(path))
    cfg = StationConfig(client_id="station", store=pg_url, port=broker.port, topic_prefix=PREFIX,
                        grace_seconds=0.1, gate_secrets={"west": str(path)})
    try:
        with StationConsumer(cfg) as consumer:
            first = gate.emit("access_granted")
            gate.publish_record({**first, "id": "forged", "type": "access_refused"})
            wait_for(lambda: consumer.stats["conflicts"] == 1, what="conflict noticed")
            assert consumer.store.recent(limit=5)[0].record["id"] == first["id"]  # the first stays
            assert [(g, s, r["id"]) for g, s, r in consumer.store.conflicts()] == [("west", first["seq"], "forged")]
            assert "arrived with another id" in caplog.text
    finally:
        gate.close()
