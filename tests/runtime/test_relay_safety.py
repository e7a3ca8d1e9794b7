"""The lock relay after a death: real `gatectl` subprocesses on a simulated gate whose lock line is
retained like a Raspberry Pi's (storage.dir/sim-relay.log; gate.runtime.sim_relay_line).

- a SIGKILL during a grant leaves the line energised (what the Pi kernel does);
- the next daemon claims the line at its safe level before it opens any storage, even when the
  journal is corrupt;
- `gatectl relay-safe` (systemd's ExecStartPre=/ExecStopPost=) drives it safe and refuses while a
  daemon owns it;
- on SIGTERM the relay drops first, while the uplink is still flushing to a frozen broker.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from gate.runtime.sim_relay_line import read_entries, relay_log_path
from gatefixture import REPO, GateProcess, wait_for

GRANT_TOML = """exit_unlock_seconds = 60
[lock]
unlock_seconds = 60
"""  # continues the fixture's [door] table


def relay_safe(gate: GateProcess) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", "relay-safe", "-c", str(gate.config)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def line(gate: GateProcess) -> list[dict]:
    return read_entries(relay_log_path(gate.storage))


def energise_and_kill(gate: GateProcess) -> int:
    """Start, grant (exit button, 60 s), SIGKILL: the line stays energised. Returns the dead pid."""
    gate.start()
    gate.sim("exit")
    wait_for(lambda: gate.sim("state")["relay_energised"], 10, "the exit grant to energise the relay")
    pid = gate.pid
    gate.kill()
    assert line(gate)[-1]["level"] == 1 and line(gate)[-1]["pid"] == pid, (pid, line(gate))  # retained, as on a Pi
    return pid


@pytest.fixture
def gate(tmp_path, broker):
    with GateProcess(tmp_path, port=broker.port, extra_toml=GRANT_TOML) as g:
        yield g


def test_a_corrupt_journal_cannot_keep_the_next_daemon_from_claiming_the_relay_safe(gate):
    energise_and_kill(gate)
    (gate.storage / "journal.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    for suffix in ("-wal", "-shm"):
        (gate.storage / f"journal.db{suffix}").unlink(missing_ok=True)
    gate.proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "run", "-c", str(gate.config)], cwd=REPO,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = gate.proc.pid
    # Whether this daemon then refuses the journal or starts a fresh one, its first act on the
    # relay line is the claim at the unpowered level.
    wait_for(lambda: any(e["pid"] == pid for e in line(gate)), 20, "the new daemon to claim the lock line")
    mine = [e for e in line(gate) if e["pid"] == pid]
    assert mine[0]["function"] == "output"
    assert [e["level"] for e in mine][-1] == 0
    assert 1 not in [e["level"] for e in mine[1:]]  # the claim moved the line to 0 and it stayed there


def test_relay_safe_drives_a_line_left_energised_and_refuses_while_a_daemon_owns_it(gate):
    energise_and_kill(gate)  # leaves a stale control.sock behind, as a killed daemon does
    done = relay_safe(gate)
    assert done.returncode == 0, done.stderr
    assert "coil off, it was energised" in done.stdout
    assert line(gate)[-1]["by"] == "relay-safe" and line(gate)[-1]["level"] == 0
    again = relay_safe(gate)
    assert again.returncode == 0 and "already off" in again.stdout

    gate.start()
    gate.sim("exit")
    wait_for(lambda: gate.sim("state")["relay_energised"], 10, "a grant on the running daemon")
    refused = relay_safe(gate)
    assert refused.returncode == 1 and "daemon is running" in refused.stderr
    assert gate.sim("state")["relay_energised"] and line(gate)[-1]["level"] == 1  # untouched


def test_on_sigterm_the_relay_drops_before_the_uplink_flush_with_a_frozen_broker(gate, broker):
    gate.start(ready=lambda: gate.sim_ready() and "connected to" in gate.log_text())
    gate.sim("exit")
    wait_for(lambda: gate.sim("state")["relay_energised"], 10, "the exit grant to energise the relay")
    pid = gate.pid
    broker.freeze()
    try:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: line(gate)[-1]["pid"] == pid and line(gate)[-1]["level"] == 0, 10,
                 "the stopping daemon to de-energise the relay")
        # The relay is down while the daemon is still held by the uplink's flush to the frozen
        # broker (it cannot end that flush for seconds): the order, not a duration, is the point.
        with pytest.raises(subprocess.TimeoutExpired):
            gate.proc.wait(timeout=1.0)
    finally:
        broker.thaw()
    assert gate.stop() == 0
    assert "lock relay de-energised first (lock locked)" in gate.log_text()
    assert [r["lock"] for r in gate.records_of("daemon_stopped")] == ["locked"]


def test_relay_safe_on_a_pi_config_drives_the_pin_through_gpiozero(tmp_path):
    # No Pi here: gpiozero's own mock factory stands in for the real pins (the same code path).
    cfg = tmp_path / "gate.toml"
    cfg.write_text(f'[gate]\nid = "g1"\n[storage]\ndir = "{tmp_path / "state"}"\n[hardware]\nmode = "pi"\n'
                   '[hardware.gpio]\nlock_relay_active_high = false\n[lock]\nwiring = "fail-safe"\n'
                   '[mqtt]\nenabled = false\n')
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    done = subprocess.run([sys.executable, "-m", "gate.cli", "relay-safe", "-c", str(cfg)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lock relay GPIO17: coil off; the fail-safe lock is released"
    bad = subprocess.run([sys.executable, "-m", "gate.cli", "relay-safe", "-c", str(tmp_path / "missing.toml")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "missing.toml" in bad.stderr
