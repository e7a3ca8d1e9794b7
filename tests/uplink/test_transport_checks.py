"""`check-config` and `doctor` say loudly when the transport exposes the gate (audit F10)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gate.cli.doctor_checks import PASS, WARN, check_transport
from gate.config.checks import is_loopback
from gate.config.schema import load_config

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, mqtt: str) -> Path:
    (tmp_path / "command.secret").write_text("x" * 64 + "\n")
    (tmp_path / "mqtt.password").write_text("pw\n")
    (tmp_path / "ca.pem").write_text("not checked here\n")
    path = tmp_path / "gate.toml"
    path.write_text(f'[storage]\ndir = "state"\n[hardware]\nmode = "simulated"\n'
                    f'[mqtt]\ncommand_secret_file = "command.secret"\n{mqtt}\n')
    return path


def _check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", "check-config", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_the_demo_config_is_quiet(tmp_path):
    demo = (REPO / "config" / "simulated.toml").read_text()
    (tmp_path / "command.secret").write_text("x" * 64 + "\n")  # `gatectl demo` creates it
    (tmp_path / "demo.toml").write_text(demo.replace('"../run/sim/command.secret"', '"command.secret"'))
    run = _check_config(tmp_path / "demo.toml")
    assert run.returncode == 0 and run.stderr == ""


def test_plaintext_without_auth_to_another_host_warns_on_stderr_and_exits_0(tmp_path):
    run = _check_config(_config(tmp_path, 'host = "station.example.net"\nprotocol = "3.1.1"'))
    assert run.returncode == 0 and run.stdout.endswith(": ok\n")
    warnings = run.stderr.splitlines()
    assert [w.split(":")[1].strip() for w in warnings] == ["mqtt.tls_ca_file", "mqtt.username", "mqtt.protocol"]
    assert all(w.startswith("warning: ") for w in warnings) and "in clear to station.example.net" in warnings[0]


def test_a_password_in_clear_to_another_host_is_an_error_unless_allowed(tmp_path):
    creds = 'host = "10.0.0.5"\nusername = "gate-1"\npassword_file = "mqtt.password"'
    run = _check_config(_config(tmp_path, creds))
    assert run.returncode == 2
    assert "mqtt.tls_ca_file: empty, so the broker password (mqtt.password_file) would travel in clear to 10.0.0.5" \
        in run.stderr
    allowed = _check_config(_config(tmp_path, creds + "\nallow_plaintext = true"))
    assert allowed.returncode == 0 and "warning: mqtt.tls_ca_file" in allowed.stderr
    with_tls = _check_config(_config(tmp_path, creds + '\ntls_ca_file = "ca.pem"'))
    assert with_tls.returncode == 0 and with_tls.stderr == ""


def test_doctor_transport_row(tmp_path):
    result = check_transport(load_config(_config(tmp_path, 'host = "station.example.net"')))
    assert result.result == WARN and "mqtt.tls_ca_file" in result.detail and "mqtt.username" in result.detail
    secure = 'host = "station.example.net"\nusername = "g"\npassword_file = "mqtt.password"\ntls_ca_file = "ca.pem"'
    result = check_transport(load_config(_config(tmp_path, secure)))
    assert result.result == PASS and "TLS, MQTT 5" in result.detail


def test_loopback_is_recognised_without_resolving_names():
    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["10.0.0.1", "station.example.net", "localhost.example.net"]))
