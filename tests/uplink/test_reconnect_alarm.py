"""An alarm raised during a broker outage reaches the station soon after the broker returns, not
after the full reconnect backoff (fault injection 1: 32 s behind a 60 s cap)."""
from __future__ import annotations

import time

from gatefixture import StationClient, wait_for
from broker import MosquittoBroker
from uplinkfixture import make_uplink, open_journal


def test_an_alarm_waiting_in_an_outage_cuts_the_reconnect_backoff(tmp_path):
    broker = MosquittoBroker(persistence=True).start()
    try:
        # The station's persistent session survives the broker restart: it gets what the gate sends.
        station = StationClient(broker.port, client_id="station-persistent", clean=False)
        station.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        station.connect()
        with open_journal(tmp_path) as journal:
            # A backoff that alone would keep the gate away for 10-40 s after the broker is back.
            uplink = make_uplink(journal, broker.port, reconnect_min=20, reconnect_max=60).start()
            try:
                assert uplink.session.wait_connected(10)
                broker.stop()
                wait_for(lambda: not uplink.connected, 10, "the gate to see the outage")
                alarm = journal.append("forced_open", {"door": "main"})
                uplink.on_record(alarm)
                attempts = uplink.session.attempts
                wait_for(lambda: uplink.session.attempts > attempts, 10, "a reconnect attempt during the outage")
                broker.start()
                back = time.monotonic()
                wait_for(lambda: [a for a in station.on("alarm") if a["seq"] == alarm.seq], 10,
                         "the forced_open at the station within 10 s of the broker's return")
                print(f"alarm at the station {time.monotonic() - back:.1f} s after the broker returned")
            finally:
                uplink.close()
        station.close()
    finally:
        broker.close()
