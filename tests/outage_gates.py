"""Many real gate uplinks in one process, for the district-outage test and bench/bench_outage.py.

Each gate is the gate's own uplink (gate.uplink.link.Uplink over a real Journal, its Outbox and
MQTT session, its CommandGate verifying the station's signed replays with the gate's key): the
exact code that decides what a gate sends after an outage (alarms first, at most `max_in_flight`
unacknowledged, replays in batches). Only the rest of the daemon (door, readers) is left out.

Before the uplinks start, every journal is filled as an outage leaves it: `records` records
(alarms at every `alarm_every`-th seq), the first `lost` of them marked delivered: the broker took
them while no station was subscribed (a station outage), so they exist only in the gate's journal
now. Then all uplinks connect at once.

    python tests/outage_gates.py PORT DIR FIRST GATES RECORDS LOST ALARM_EVERY
Runs gates FIRST..FIRST+GATES-1. At most ~50 per process: paho's loop uses select(), which cannot
watch a descriptor numbered 1024 or above, and each gate holds about 14 (journal, WAL, shm, seq mark,
socket, paho's wake-up pair): with 200 in one process only the first 73 ever connect.
Prints `ready` once every uplink is started. Reads commands on stdin: `report` prints one JSON line
{gate: [last_seq, backlog, in_flight]}; `quit` (or end of input) closes every uplink and exits.
Gate g is `d{g:04d}`; its key is DIR/d{g:04d}.secret (written here), its journal DIR/d{g:04d}/.
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.store.journal import Journal  # noqa: E402
from gate.uplink.command_gate import CommandGate  # noqa: E402
from gate.uplink.link import Uplink  # noqa: E402
from gate.uplink.session import SessionSettings  # noqa: E402
from gate.uplink.signing import load_secret  # noqa: E402

PREFIX = "compound"


def gate_name(n: int) -> str:
    return f"d{n:04d}"


def fill(journal: Journal, records: int, lost: int, alarm_every: int) -> None:
    items = [("forced_open" if alarm_every and seq % alarm_every == 0 else "access_granted",
              {"door": "main", "direction": "in"}) for seq in range(1, records + 1)]
    journal.append_many(items)
    journal.mark_delivered(list(range(1, lost + 1)))


def build(port: int, root: Path, n: int, records: int, lost: int, alarm_every: int) -> Uplink:
    gate = gate_name(n)
    secret = root / f"{gate}.secret"
    if not secret.exists():  # the station's side may have written the keys already
        secret.write_text(uuid.uuid4().hex + "\n")
    journal = Journal(root / gate / "journal.db", gate)
    fill(journal, records, lost, alarm_every)
    settings = SessionSettings("127.0.0.1", port, client_id=f"gate-{gate}", keepalive_seconds=30,
                               reconnect_min_seconds=0.2, reconnect_max_seconds=2.0)
    return Uplink(journal, settings, gate_id=gate, topic_prefix=PREFIX,
                  command_gate=CommandGate(gate, journal, key=load_secret(secret)),
                  snapshot=lambda: {"mode": "normal", "lock": "locked", "door": "closed"}, flush_seconds=0.5)


def main(argv: list[str]) -> int:
    port, root = int(argv[1]), Path(argv[2])
    first, gates, records, lost, alarm_every = (int(a) for a in argv[3:8])
    uplinks = [build(port, root, n, records, lost, alarm_every) for n in range(first, first + gates)]
    for u in uplinks:  # all at once: the district's reconnect
        u.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "report":
                print(json.dumps({u.gate_id: [u.journal.last_seq, u.journal.backlog(), u.outbox.in_flight, u.connected]
                                  for u in uplinks}), flush=True)
            elif line.strip() == "quit":
                break
    finally:
        for u in uplinks:
            u.close()
        for u in uplinks:
            u.journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
