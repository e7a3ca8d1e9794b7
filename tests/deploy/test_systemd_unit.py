"""systemd/gate.service: supervision and hardening keys present, and `systemd-analyze verify` clean."""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "gate.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value in order (unit files repeat keys such as DeviceAllow=)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        sections[current][key.strip()].append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit():
    return parse_unit(UNIT.read_text())


def one(unit, key: str, section: str = "Service") -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key}= given {len(values)} times"
    return values[0]


def test_supervision(unit):
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "Restart") == "always"  # a life-safety controller: restarted whatever ended it
    watchdog = one(unit, "WatchdogSec")
    assert watchdog.endswith("s") and 2 <= int(watchdog[:-1]) <= 60  # the loop pings every <= 0.5 s
    assert one(unit, "ExecStart").split()[1:] == ["run", "-c", "/etc/gate/gate.toml"]
    assert one(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "WantedBy", "Install") == "multi-user.target"


def test_no_start_limit_leaves_the_gate_dead(unit):
    # Either no rate limit at all, or one that a gate restarting every RestartSec can never hit.
    interval = unit["Unit"].get("StartLimitIntervalSec", ["10s"])[0]
    burst = int(unit["Unit"].get("StartLimitBurst", ["5"])[0])
    restart_s = float(one(unit, "RestartSec").rstrip("s"))
    assert interval == "0" or (restart_s * burst > float(interval.rstrip("s"))), (interval, burst)
    assert "OnFailure" not in unit["Unit"] or unit["Unit"]["OnFailure"]


def test_relay_is_driven_safe_before_every_start_and_after_every_stop(unit):
    config = one(unit, "ExecStart").split()[-1]
    for key in ("ExecStartPre", "ExecStopPost"):
        command = one(unit, key)
        # "-": a failing helper never blocks a start or a stop; the same config as the daemon.
        assert command.startswith("-/opt/gate/venv/bin/gatectl "), command
        assert command.split()[1:] == ["relay-safe", "-c", config], command


def test_the_hardware_watchdog_is_set_within_the_pi_timer_range():
    manager = parse_unit((SYSTEMD / "gate-watchdog.conf").read_text())["Manager"]
    runtime = manager["RuntimeWatchdogSec"][0]
    assert runtime.endswith("s") and 1 <= int(runtime[:-1]) <= 15  # the BCM watchdog counts at most ~15 s
    assert manager["RebootWatchdogSec"][0]


def test_tmpfiles_covers_every_secret_name_the_install_guide_uses():
    rules = [line.split() for line in (SYSTEMD / "gate.tmpfiles.conf").read_text().splitlines()
             if line and not line.startswith("#")]
    secrets = {r[1]: r[2] for r in rules if r[0] == "z" and r[3] == "gate"}
    for name in ("/etc/gate/osdp.scbk", "/etc/gate/osdp.key", "/etc/gate/mqtt.password", "/etc/gate/command.secret"):
        matching = [mode for pattern, mode in secrets.items() if Path(name).match(pattern)]
        assert matching == ["0600"], (name, secrets)


def test_dedicated_user_and_directories(unit):
    assert one(unit, "User") == "gate"
    assert set(one(unit, "SupplementaryGroups").split()) == {"gpio", "spi", "i2c", "dialout", "audio"}
    assert one(unit, "StateDirectory") == "gate"
    assert one(unit, "ConfigurationDirectory") == "gate"
    sysusers = (SYSTEMD / "gate.sysusers.conf").read_text().split("\n")
    members = {line.split()[2] for line in sysusers if line.startswith("m gate ")}
    assert members == {"gpio", "spi", "i2c", "dialout", "audio"}


def test_hardening(unit):
    assert one(unit, "ProtectSystem") == "strict"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictSUIDSGID", "ProtectKernelModules"):
        assert one(unit, key) == "yes", key
    # No capabilities at all: the buses are reached through group-owned device nodes.
    assert one(unit, "CapabilityBoundingSet") == ""
    assert one(unit, "AmbientCapabilities") == ""
    assert one(unit, "DevicePolicy") == "closed"
    allowed = {v.split()[0] for v in unit["Service"]["DeviceAllow"]}
    assert {"char-spi", "char-i2c", "char-gpiochip", "char-ttyUSB", "char-ttyAMA", "char-alsa"} <= allowed
    assert all(v.split()[1] == "rw" for v in unit["Service"]["DeviceAllow"])
    assert set(one(unit, "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "PrivateDevices" not in unit["Service"]  # it would hide /dev/spidev* and friends


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean(tmp_path):
    # verify checks that ExecStart exists: point it at this environment's gatectl (or python).
    gatectl = shutil.which("gatectl") or sys.executable
    text = UNIT.read_text().replace("/opt/gate/venv/bin/gatectl", gatectl)
    copy = tmp_path / "gate.service"
    copy.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if "gate.service" in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


STATION_UNIT = SYSTEMD / "gate-station.service"


def test_station_unit_runs_the_consumer_as_its_own_user():
    unit = parse_unit(STATION_UNIT.read_text())
    assert one(unit, "ExecStart").split()[1:] == ["station", "-c", "/etc/gate-station/station.toml", "watch", "--json"]
    assert one(unit, "User") == "gate-station" and one(unit, "StateDirectory") == "gate-station"
    assert one(unit, "Restart") == "on-failure" and one(unit, "RestartPreventExitStatus") == "2"
    assert one(unit, "ProtectSystem") == "strict" and one(unit, "CapabilityBoundingSet") == ""
    sysusers = (SYSTEMD / "gate-station.sysusers.conf").read_text()
    assert "u gate-station " in sysusers
    tmpfiles = (SYSTEMD / "gate-station.tmpfiles.conf").read_text()
    assert "/etc/gate-station/secrets/*.secret     0600 gate-station" in tmpfiles
    # the store path the unit's comment promises is the example config's
    example = (SYSTEMD.parent / "config" / "station.example.toml").read_text()
    assert 'store = "/var/lib/gate-station/station.db"' in example


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_station_unit_systemd_analyze_verify_is_clean(tmp_path):
    gatectl = shutil.which("gatectl") or sys.executable
    copy = tmp_path / "gate-station.service"
    copy.write_text(STATION_UNIT.read_text().replace("/opt/gate/venv/bin/gatectl", gatectl))
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if "gate-station.service" in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr
