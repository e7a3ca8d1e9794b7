"""The gate's own DC-09 path: `gatectl run` on a simulated gate with `[[receivers]]`, no broker at
all, and pysiaalarm as the alarm receiving centre."""
from __future__ import annotations

import pytest

from gate.config.schema import parse_config
from gate.core.errors import ConfigError
from gate.runtime.local_broker import free_port
from gatefixture import GateProcess, wait_for
from siareceiver import SiaReceiver

pytest.importorskip("pysiaalarm")

KEY = "0123456789ABCDEF01234567"  # AES-192


def receivers_toml(port: int, key_file: str = "", **extra) -> str:
    lines = [f'host = "127.0.0.1"', f"port = {port}", 'account = "4702"', "ack_timeout_seconds = 2",
             "retry_initial_seconds = 0.1", "retry_max_seconds = 0.5", "supervision_seconds = 0"]
    if key_file:
        lines.append(f'key_file = "{key_file}"')
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    return "\n[[receivers]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes192"])
def test_a_forced_opening_reaches_the_receiver_with_the_broker_down(tmp_path, encrypted):
    key_file = ""
    if encrypted:
        (tmp_path / "arc.key").write_text(KEY + "\n")
        key_file = str(tmp_path / "arc.key")
    dead_broker = free_port()  # nothing listens: MQTT is down for the whole test
    with SiaReceiver({"4702": KEY if encrypted else None}) as rx, \
            GateProcess(tmp_path, port=dead_broker, gate_id="gucun-47-south",
                        extra_toml=receivers_toml(rx.port, key_file)) as gate:
        gate.start()
        gate.sim("door", position="open")  # no grant: a forced opening
        gate.sim("tamper", on="on")
        events = rx.wait(lambda ev: len(ev) >= 2, what="forced opening and tamper at the receiver")
        gate.sim("door", position="close")
        gate.sim("tamper", on="off")
        events = rx.wait(lambda ev: len(ev) >= 4, what="the two restores")
    got = sorted((e["event_qualifier"], e["event_type"], e["account"], e["encrypted"]) for e in events)
    assert got == [("1", "137", "4702", encrypted), ("1", "423", "4702", encrypted),
                   ("3", "137", "4702", encrypted), ("3", "423", "4702", encrypted)]


def test_gate_config_checks_receivers(tmp_path):
    table = {"mqtt": {"enabled": False}, "receivers": [{"host": "127.0.0.1", "port": 7000, "format": "CID", "key_file": "missing.key",
                            "backups": ["nohost"]}]}
    with pytest.raises(ConfigError) as err:
        parse_config(table, tmp_path)
    text = "\n".join(err.value.problems)
    assert "receivers[0].format: must be one of" in text and "receivers[0].account: required" in text
    assert "receivers[0].backups[0]" in text and "receivers[0].key_file" in text
    ok = parse_config({"mqtt": {"enabled": False}, "receivers": [{"account": "1234", "port": 7001}]}, tmp_path)
    assert ok.receivers[0].port == 7001
