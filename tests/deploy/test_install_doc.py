"""docs/install.md in an order that works on a fresh Pi OS (new-user audit C1-C3)."""
from __future__ import annotations

from pathlib import Path

DOC = (Path(__file__).resolve().parents[2] / "docs" / "install.md").read_text(encoding="utf-8")


def first(text: str) -> int:
    at = DOC.find(text)
    assert at >= 0, text
    return at


def test_steps_come_in_an_order_that_works():
    # the state folder exists before guards and passes write into it (systemd-sysusers makes no home)
    assert first("systemd-tmpfiles --create /etc/tmpfiles.d/gate.conf") < first("gatectl guards -c")
    assert first("systemd-tmpfiles --create /etc/tmpfiles.d/gate.conf") < first("gatectl passes -c")
    # the command secret exists before check-config checks the config that names it
    assert first("gatectl secret /etc/gate/command.secret") < first("gatectl check-config /etc/gate/gate.toml")
    # credentials are issued once the service runs (the daemon owns the reader)
    assert first("systemctl enable --now gate") < first("passes -c /etc/gate/gate.toml issue")


def test_gcc_is_installed_and_the_pi5_path_keeps_rpi_gpio_out():
    assert "python3-dev gcc" in DOC
    pi5 = DOC[first("**On a Pi 5**"):first("gpiozero picks the")]
    commands = pi5.split("```sh", 1)[1].split("```", 1)[0]
    assert "pip uninstall -y RPi.GPIO" in commands and "install --no-deps 'rpi-lgpio" in commands
    assert "[pi5]" not in commands                                 # the extra would bring RPi.GPIO back
    assert "--no-deps /opt/gate/src  # Pi 5" in DOC                # and so would a plain update
    assert "example.invalid" not in DOC and "src spidev" not in DOC


def test_a_station_install_section_names_user_state_unit_and_secrets():
    station = DOC[first("## A station"):]
    for needed in ("gate-station.sysusers.conf", "/var/lib/gate-station", "systemd/gate-station.service",
                   "/etc/gate-station/secrets/gucun-47-north.secret", "check-config /etc/gate-station/station.toml"):
        assert needed in station, needed
