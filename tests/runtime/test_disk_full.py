"""The real daemon on a 2 MiB tmpfs that fills up between two retention passes (fault-injection 5):
storage_low is raised at once (the failed write wakes the retention), is in the active alarms while
the disk is full, reaches the journal once there is room, and the log holds one traceback, not 675."""
from __future__ import annotations

import errno
import os
import subprocess

import pytest

from gatefixture import GateProcess, StationClient, wait_for


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a 2 MiB tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def alarm_types(gate: GateProcess) -> list[str]:
    return [a["type"] for a in gate.sim("state")["active_alarms"]]


def test_disk_full_between_passes_keeps_storage_low_and_logs_one_traceback(broker, tmp_path, small_disk):
    gate = GateProcess(small_disk, port=broker.port)
    gate.log_path = tmp_path / "gate.log"  # not on the disk that fills up
    text = gate.config.read_text()
    gate.config.write_text(text.replace("[storage]\n", "[storage]\nmin_free_mb = 1\nretention_interval_minutes = 60\n"))
    with StationClient(broker.port) as station, gate:  # stops it whatever happens
        gate.start(ready=lambda: gate.sim_ready() and station.on("status"))
        fill(small_disk)
        for _ in range(30):  # the exit button still releases; every journal write fails
            gate.sim("exit")
        wait_for(lambda: "storage_low" in alarm_types(gate), 20, "storage_low in the active alarms")
        state = gate.sim("state")
        assert "journal" in state["faulty_devices"]
        wait_for(lambda: any(s.get("active_alarms") and "storage_low" in [a["type"] for a in s["active_alarms"]]
                             for s in station.on("status")), 10, "storage_low in the retained status")
        log = gate.log_text()
        # One entry with a traceback per component (controller, uplink), not one per write (exp5: 675).
        assert log.count("journal write failed") == 1 and log.count("The above exception") <= 2, log[-3000:]
        (small_disk / "filler").unlink()
        gate.sim("exit")  # the next write commits everything held, storage_low included
        wait_for(lambda: gate.records_of("storage_low"), 10, "storage_low journaled")
        assert gate.records_of("storage_low")[0]["reason"] == "disk_space"
        wait_for(lambda: "storage_low" in {r["type"] for r in station.records()}, 10, "storage_low at the station")
