"""One registry for two gates of a compound: real `gatectl run` daemons (tests/gatefixture.py), real
mosquitto, the station's `gatectl station passes ...` as subprocesses on a SQLite store."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gatefixture import GateProcess, StationClient, wait_for

from gate.core.registry import chunk_topic, manifest_topic, sign_manifest

COMPOUND = "gucun-47"
GATES = ("north", "south")
SECRETS = {"north": b"north-secret-0123456789abcdef0123", "south": b"south-secret-0123456789abcdef0123"}


def gatectl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True, timeout=timeout)


def roster(path: Path, cards: list[str]) -> Path:
    lines = ["card,name,household"] + [f"{c},Resident {i},{i // 3}-{i % 3}" for i, c in enumerate(cards)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cards(start: int, n: int) -> list[str]:
    return [f"{i:08X}" for i in range(start, start + n)]


class Compound:
    def __init__(self, tmp: Path, port: int):
        self.tmp, self.port = tmp, port
        self.gates = {g: GateProcess(tmp / g, port=port, gate_id=g, secret=SECRETS[g]) for g in GATES}
        self.toml = tmp / "station.toml"
        gates = "".join(f'[gates."{g}"]\nsecret_file = "{p.storage / "command.secret"}"\ncompound = "{COMPOUND}"\n'
                        for g, p in self.gates.items())
        self.toml.write_text(f'[station]\nclient_id = "st-{uuid.uuid4().hex[:6]}"\nstore = "{tmp / "station.db"}"\n'
                             f'[mqtt]\nport = {port}\ntopic_prefix = "compound"\n{gates}')

    def station(self, *args: str) -> subprocess.CompletedProcess:
        return gatectl("station", "-c", str(self.toml), "passes", *args, "--compound", COMPOUND)


def tap(gate: GateProcess, card: str) -> dict:
    """Tap `card` and return the gate's decision record for it."""
    wait_for(lambda: not gate.sim("state").get("cards_in_field"), 5, "the previous card left the field")
    before = gate.last_seq()
    gate.sim("temp", value="36.6")
    gate.sim("tap", uid=card, hold=0.2)

    def decision():
        for kind, body in gate.journal_rows("SELECT type, body FROM records WHERE seq > ? AND type IN "
                                            "('access_granted', 'access_refused') ORDER BY seq", (before,)):
            rec = json.loads(body)
            if rec.get("card") == card:
                return {**rec, "type": kind}
    return wait_for(decision, 10, f"{gate.gate_id}: decision for {card}")


def holds(gate: GateProcess, version: int) -> bool:
    rows = gate.journal_rows("SELECT body FROM records WHERE type = 'registry_applied' ORDER BY seq")
    return any(json.loads(b)["version"] == version for (b,) in rows)


def status(c: Compound) -> list[dict]:
    out = c.station("status", "--json", "--timeout", "5")
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture
def compound(tmp_path, broker):
    c = Compound(tmp_path, broker.port)
    for g in c.gates.values():
        g.start()
    try:
        yield c
    finally:
        for g in c.gates.values():
            g.stop()


def test_an_import_reaches_both_gates_and_a_local_add_is_refused(compound):
    c = compound
    listed = cards(0x10000000, 1000)
    out = c.station("import", str(roster(c.tmp / "roster.csv", listed)))
    assert out.returncode == 0, out.stderr
    assert "version 1" in out.stdout and "published to north, south" in out.stdout
    for g in c.gates.values():
        wait_for(lambda: holds(g, 1), 10, f"{g.gate_id} holds version 1")
        assert tap(g, listed[517])["type"] == "access_granted"
        assert tap(g, "0BADCAFE")["reason"] == "unknown_card"
    wait_for(lambda: all(s["current"] and s["registry_version"] == 1 for s in status(c)), 10, "status: both current")
    with StationClient(c.port, gate_id="north", secret=SECRETS["north"]) as st:   # nor one per-gate command
        cmd_id = st.send(st.command("passes", upsert=[{"card": "AABBCCDD", "name": "Local"}]))
        answer = st.wait_result(cmd_id)
    assert answer["ok"] is False and answer.get("reason") == "compound_managed" and COMPOUND in answer["error"]
    local = gatectl("passes", "-c", str(c.gates["north"].config), "add", "AABBCCDD", "--name", "Local")
    assert local.returncode != 0
    assert "compound-managed" in local.stderr and "gatectl station" in local.stderr and COMPOUND in local.stderr


def test_a_gate_stopped_during_an_import_and_a_revoke_catches_up_when_it_returns(compound):
    c = compound
    first, extra = cards(0x20000000, 50), cards(0x30000000, 20)
    assert c.station("import", str(roster(c.tmp / "a.csv", first))).returncode == 0
    south = c.gates["south"]
    wait_for(lambda: holds(south, 1), 10, "south holds version 1")
    south.stop()
    assert c.station("import", str(roster(c.tmp / "b.csv", first + extra))).returncode == 0
    out = c.station("revoke", first[3])
    assert out.returncode == 0 and "version 3" in out.stdout, out.stdout + out.stderr
    behind = {s["gate"]: s for s in status(c)}
    assert behind["north"]["current"] and not behind["south"]["current"]
    assert c.station("status").returncode == 1            # a gate behind: exit 1
    south.start()
    wait_for(lambda: holds(south, 3), 10, "south catches up to version 3 within 10 s")
    assert tap(south, first[3])["reason"] == "revoked"
    assert tap(south, extra[7])["type"] == "access_granted"
    assert tap(c.gates["north"], first[3])["reason"] == "revoked"
    wait_for(lambda: c.station("status").returncode == 0, 10, "status: every gate current")


def _publish_retained(port: int, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"intruder-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in items:
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def _rejections(gate: GateProcess) -> list[str]:
    return [r["reason"] for r in gate.records_of("registry_rejected")]


def test_forged_and_corrupted_versions_are_refused_and_alarmed(compound, broker):
    c = compound
    listed = cards(0x40000000, 30)
    assert c.station("import", str(roster(c.tmp / "a.csv", listed))).returncode == 0
    north, south = c.gates["north"], c.gates["south"]
    for g in (north, south):
        wait_for(lambda: holds(g, 1), 10, f"{g.gate_id} holds version 1")
    # forged: a version 9 that grants an intruder's card, signed with a key that is not north's
    rows = [["0BADCAFE", "Intruder", None, "resident", None, None, False]]
    from gate.core.registry import build_manifest, chunk_bodies, content_hash
    bodies = chunk_bodies(rows)
    forged = sign_manifest(build_manifest(COMPOUND, "north", 9, content_hash(rows), 1, bodies, "2026-12-01T00:00:00Z"),
                           b"not-the-key")
    _publish_retained(broker.port, [(chunk_topic("compound", "north", 9, 0), bodies[0]),
                                    (manifest_topic("compound", "north"), json.dumps(forged).encode())])
    wait_for(lambda: "bad_signature" in _rejections(north), 10, "north refuses the forged version")
    wait_for(lambda: any(a.get("device") == "registry" for a in north.records_of("device_fault")), 10,
             "north alarms device_fault device=registry")
    assert tap(north, "0BADCAFE")["reason"] == "unknown_card"
    assert tap(north, listed[5])["type"] == "access_granted"          # still deciding on version 1
    # corrupted in transit or on the broker: south is away while version 2 goes out, and its chunk
    # is replaced before south returns
    south.stop()
    assert c.station("add", "0BADCAFE", "--name", "New Resident").returncode == 0
    tampered = json.dumps([["0BADCAFE", "New Resident", None, "resident", None, None, False]]).encode()
    _publish_retained(broker.port, [(chunk_topic("compound", "south", 2, 0), tampered)])
    south.start()
    wait_for(lambda: "bad_chunk" in _rejections(south), 10, "south refuses the corrupted chunk")
    wait_for(lambda: any(a.get("device") == "registry" for a in south.records_of("device_fault")), 10,
             "south alarms device_fault device=registry")
    assert not holds(south, 2)
    assert tap(south, listed[6])["type"] == "access_granted"          # the last good version still rules
    held = {s["gate"]: s for s in status(c)}
    assert held["south"]["registry_version"] == 1 and not held["south"]["current"]
    # the station repairs the drift by publishing the version again
    assert c.station("sync").returncode == 0
    wait_for(lambda: holds(south, 2), 10, "south holds version 2 after passes sync")
    assert tap(south, "0BADCAFE")["type"] == "access_granted"
