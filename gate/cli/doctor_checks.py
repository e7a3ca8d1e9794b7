"""The individual checks of `gatectl doctor`: each looks at one part and says what to do about it.

A check returns a `CheckResult` and never raises for a broken part: naming the broken part and the
likely fix is the whole point. Checks take the devices already opened (or the exception opening them
raised), so the same checks run on a Pi and on the simulated gate.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import ssl
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gate.config.schema import Config

PASS, FAIL, WARN, SKIP = "PASS", "FAIL", "WARN", "SKIP"

# Plausible ambient (sensor die) temperatures for a gate enclosure; outside: garbage or a wrong part.
AMBIENT_RANGE_C = (-30.0, 60.0)
THERMOMETER_SAMPLES = 8
RELAY_PULSE_S = 0.5
# Config fields (with file=True) whose names contain one of these hold secrets.
SECRET_WORDS = ("secret", "password", "key", "scbk")

SPI_WIRING_HINT = ("no chip answers on SPI: check 3.3 V and GND, SDA/NSS -> GPIO8 (CE0), SCK -> GPIO11, "
                   "MOSI -> GPIO10, MISO -> GPIO9, RST -> the configured rst_pin; is SPI enabled "
                   "(sudo raspi-config nonint do_spi 0, reboot)?")


NOT_A_PI_HINT = ("not a Raspberry Pi, or its GPIO library is missing: pip install RPi.GPIO (rpi-lgpio on a "
                 'Pi 5; see docs/install.md); to try without hardware set hardware.mode = "simulated"')


def _not_a_pi(exc: BaseException) -> bool:
    text = str(exc)
    return "default pin factory" in text or "only be run on a Raspberry Pi" in text


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's table."""

    check: str
    result: str  # PASS, FAIL, WARN or SKIP
    detail: str = ""
    hint: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)


# --- storage and secrets -------------------------------------------------------------------------
def check_storage(cfg: Config) -> CheckResult:
    d = cfg.storage_dir
    if not d.is_dir():
        return CheckResult("storage", FAIL, f"{d} does not exist",
                           "the unit creates it (StateDirectory=gate); by hand: "
                           f"sudo install -d -o gate -g gate -m 0750 {d}")
    try:
        with tempfile.NamedTemporaryFile(dir=d, prefix=".doctor-") as f:
            f.write(b"gate doctor write test\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return CheckResult("storage", FAIL, f"{d} is not writable: {exc.strerror or exc}",
                           f"run the doctor as the daemon's user (sudo -u gate ...); sudo chown -R gate:gate {d}")
    free_mb = shutil.disk_usage(d).free // (1024 * 1024)
    need = cfg.storage.min_free_mb
    detail = f"{d} writable, {free_mb} MB free (alarm below {need} MB)"
    if free_mb < need:
        return CheckResult("storage", FAIL, detail, "free space on the SD card: sudo journalctl --vacuum-size=100M, "
                           "remove old files, or lower storage.retention_days")
    journal = check_journal(d)
    if journal is not None:
        return journal
    if free_mb < 4 * need:
        return CheckResult("storage", WARN, detail, "free space is getting low")
    return CheckResult("storage", PASS, f"{detail}, journal sound")


def check_journal(d: Path) -> CheckResult | None:
    """The daemon's own integrity check of journal.db (gate.store.integrity), read-only; None if sound."""
    from gate.store.integrity import damaged_copies, inspect_journal
    from gate.store.seqmark import mark_path, read_mark

    path = d / "journal.db"
    damage = inspect_journal(path, read_mark(mark_path(path)).seq)
    if damage is not None:
        return CheckResult("storage", FAIL, damage.describe(),
                           "`gatectl run` sets a damaged journal aside as journal.db.damaged-<time> at its next start, "
                           f"continues above seq {damage.mark} and raises device_fault device=journal; "
                           "keep the damaged file for forensics")
    kept = damaged_copies(d)
    if kept:
        return CheckResult("storage", WARN, f"journal sound; {len(kept)} damaged journal(s) set aside earlier: "
                           f"{', '.join(p.name for p in kept)}",
                           "look at them (sqlite3 FILE 'PRAGMA integrity_check'), then remove them")
    return None


def secret_files(cfg: Config) -> list[tuple[str, Path]]:
    """(key path, file) of every configured file that holds a secret."""
    found: list[tuple[str, Path]] = []

    def walk(obj: Any, path: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            where = f"{path}.{f.name}" if path else f.name
            if dataclasses.is_dataclass(value):
                walk(value, where)
            elif f.metadata.get("file") and value and any(w in f.name for w in SECRET_WORDS):
                found.append((where, cfg.path(value)))

    walk(cfg, "")
    return found


def check_secrets(cfg: Config) -> CheckResult:
    files = secret_files(cfg)
    if not files:
        return CheckResult("secret files", SKIP, "no secret files configured")
    problems, hints = [], []
    for key, path in files:
        try:
            st = path.stat()
        except OSError as exc:
            problems.append(f"{key}: {path}: {exc.strerror or exc}")
            hints.append(f"gatectl secret {path}")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{key}: {path} is not a regular file")
        elif st.st_mode & 0o077:
            problems.append(f"{key}: {path} has mode {stat.S_IMODE(st.st_mode):04o} (group/others can read it)")
            hints.append(f"sudo chmod 600 {path}; sudo chown gate:gate {path}")
        elif st.st_size == 0:
            problems.append(f"{key}: {path} is empty")
            hints.append(f"gatectl secret {path}")
    if problems:
        return CheckResult("secret files", FAIL, "; ".join(problems), "; ".join(dict.fromkeys(hints)))
    return CheckResult("secret files", PASS, f"{len(files)} file(s) mode 0600 or stricter: "
                       + ", ".join(key for key, _ in files))


# --- GPIO ----------------------------------------------------------------------------------------
def check_gpio_pins(cfg: Config, opened: Any) -> CheckResult:
    """`opened` is the Hardware (or the exception raised while claiming the pins)."""
    g = cfg.hardware.gpio
    pins = ", ".join(f"{f.name[:-4]}={getattr(g, f.name)}" for f in dataclasses.fields(g) if f.name.endswith("_pin"))
    if isinstance(opened, BaseException):
        if _not_a_pi(opened):
            return CheckResult("gpio pins", FAIL, f"no GPIO here: {_error_text(opened)}", NOT_A_PI_HINT)
        return CheckResult("gpio pins", FAIL, f"cannot claim the pins: {_error_text(opened)}",
                           "stop the daemon first (sudo systemctl stop gate): it holds the pins; otherwise "
                           "another program uses a pin, or this user is not in group gpio")
    return CheckResult("gpio pins", PASS, f"claimed (BCM) {pins}")


def check_inputs_idle(cfg: Config, hw: Any) -> CheckResult:
    if hw is None or isinstance(hw, BaseException):
        return CheckResult("inputs idle", SKIP, "pins not available")
    g = cfg.hardware.gpio
    problems, hints, worst = [], [], WARN
    if hw.door.is_active:
        problems.append(f"door contact (GPIO{g.door_pin}) reads open")
        hints.append("close the door; if it is closed, check the contact wiring or hardware.gpio.door_open_is_high")
    if hw.exit_button.is_active:
        problems.append(f"exit button (GPIO{g.exit_pin}) reads pressed")
        hints.append("a stuck or miswired exit button (it must be open, to ground when pressed)")
    if hw.fire.is_active:
        worst = FAIL
        problems.append(f"fire release (GPIO{g.fire_pin}) is active: the gate would stay released")
        hints.append("the input is pulled to ground: the fire panel's release contact must be open while there is no fire")
    if hw.tamper.is_active:
        worst = FAIL
        problems.append(f"tamper (GPIO{g.tamper_pin}) is active")
        hints.append("close the enclosure; check the tamper switch (high = tampered)")
    if problems:
        return CheckResult("inputs idle", worst, "; ".join(problems), "; ".join(hints))
    return CheckResult("inputs idle", PASS, "door closed, exit released, no fire release, no tamper")


def check_relay(cfg: Config, hw: Any, *, actuate: bool,
                sleep: Callable[[float], None] = time.sleep) -> CheckResult:
    if hw is None or isinstance(hw, BaseException):
        return CheckResult("lock relay", SKIP, "pins not available")
    wiring = cfg.lock.wiring
    if not actuate:
        return CheckResult("lock relay", SKIP, f"GPIO{cfg.hardware.gpio.lock_pin} claimed, lock engaged ({wiring})",
                           "add --actuate to click the relay (releases the lock for 0.5 s)")
    lock = hw.lock
    if cfg.hardware.mode == "pi":
        # A real lock opens for a moment: that goes into the gate's journal like any other release.
        from gate.store.journal import Journal

        with Journal(cfg.storage_dir / "journal.db", cfg.gate.id) as journal:
            journal.append("relay_test", {"by": "doctor", "seconds": RELAY_PULSE_S})
    try:
        lock.release()
        released = lock.is_released
        sleep(RELAY_PULSE_S)
    finally:
        lock.engage()
    if not released or lock.is_released:
        return CheckResult("lock relay", FAIL, "the relay output did not follow release/engage",
                           "check hardware.gpio.lock_relay_active_high and the relay board's input")
    return CheckResult("lock relay", PASS, f"released {RELAY_PULSE_S} s and engaged again ({wiring})",
                       "you should have heard two clicks; none: check the relay board's VCC/JD-VCC and IN wire")


# --- RFID reader ---------------------------------------------------------------------------------
def check_rfid(cfg: Config, reader: Any) -> CheckResult:
    """`reader` is the opened RfidReader, the exception opening it raised, or None (disabled)."""
    from drivers.rfid import CLONE_VERSIONS, GENUINE_VERSIONS

    r = cfg.hardware.rfid
    name = "rfid reader"
    if not r.enabled:
        return CheckResult(name, SKIP, "disabled (hardware.rfid.enabled = false)")
    where = f"SPI {r.spi_bus}.{r.spi_device}"
    if isinstance(reader, BaseException):
        text = _error_text(reader)
        if _not_a_pi(reader):
            hint = NOT_A_PI_HINT
        elif "cannot open SPI" in text:
            hint = (f"enable SPI (sudo raspi-config nonint do_spi 0, reboot); /dev/spidev{r.spi_bus}.{r.spi_device} "
                    "must exist and the user be in group spi")
        elif "VersionReg" in text:
            hint = SPI_WIRING_HINT
        else:
            hint = "see the detail; docs/wiring.md has the reader's pins"
        return CheckResult(name, FAIL, text, hint)
    try:
        version = reader.version()
    except Exception as exc:  # a fault of the part is the answer, not a crash of the doctor
        return CheckResult(name, FAIL, f"{where}: {_error_text(exc)}", SPI_WIRING_HINT)
    if version in GENUINE_VERSIONS:
        return CheckResult(name, PASS, f"{where}: VersionReg 0x{version:02X} ({GENUINE_VERSIONS[version]})")
    if version in CLONE_VERSIONS:
        return CheckResult(name, WARN, f"{where}: VersionReg 0x{version:02X} ({CLONE_VERSIONS[version]})",
                           "a clone chip: works, but often with a shorter read range; prefer a genuine NXP MFRC522")
    if version in (0x00, 0xFF):
        return CheckResult(name, FAIL, f"{where}: VersionReg reads 0x{version:02X}: no chip answers", SPI_WIRING_HINT)
    return CheckResult(name, FAIL, f"{where}: VersionReg 0x{version:02X}: not an MFRC522",
                       "check the reader module type; docs/wiring.md")


# --- thermometer ---------------------------------------------------------------------------------
def _thermo_hint(text: str, cfg: Config) -> str:
    t = cfg.hardware.thermometer
    if "NACK" in text or "no answer" in text or "no device" in text:
        return (f"nothing answers at 0x{t.address:02X} on I2C bus {t.i2c_bus}: check SDA -> GPIO2, SCL -> GPIO3, "
                f"3.3 V, GND; `i2cdetect -y {t.i2c_bus}` must show {t.address:02x}")
    if "PEC" in text:
        return ("corrupted frames: shorten the I2C wires, check the pull-ups, run the bus at <= 100 kHz "
                "(dtparam=i2c_arm_baudrate=50000 in /boot/firmware/config.txt)")
    if "error flag" in text:
        return "the sensor flags its reading invalid: power-cycle it; replace it if this persists"
    if "cannot open I2C" in text:
        return "enable I2C: sudo raspi-config nonint do_i2c 0 (then reboot); the user must be in group i2c"
    return "see docs/wiring.md and docs/screening.md"


def check_thermometer(cfg: Config, sensor: Any, *, spacing_s: float = 0.0,
                      sleep: Callable[[float], None] = time.sleep) -> CheckResult:
    """A verified (PEC-checked) ambient and object reading; ambient plausible; object not frozen."""
    t = cfg.hardware.thermometer
    name = "thermometer"
    if not t.enabled:
        return CheckResult(name, SKIP, "disabled (hardware.thermometer.enabled = false)")
    if isinstance(sensor, BaseException):
        text = _error_text(sensor)
        return CheckResult(name, FAIL, text, _thermo_hint(text, cfg))
    try:
        ambient = sensor.read_ambient_c()
        objects = []
        for i in range(THERMOMETER_SAMPLES):
            if i and spacing_s:
                sleep(spacing_s)
            objects.append(sensor.read_object_c())
    except Exception as exc:  # DeviceFault names register and failure
        text = _error_text(exc)
        return CheckResult(name, FAIL, text, _thermo_hint(text, cfg))
    detail = f"0x{t.address:02X} on bus {t.i2c_bus}: ambient {ambient:.2f} °C, object {objects[-1]:.2f} °C (PEC valid)"
    lo, hi = AMBIENT_RANGE_C
    if not lo <= ambient <= hi:
        return CheckResult(name, FAIL, detail + f"; ambient outside {lo:g}..{hi:g} °C",
                           "an implausible die temperature: a wrong or damaged part, or the wrong address")
    if len(set(objects)) == 1:
        return CheckResult(name, WARN, detail + f"; object reading identical over {len(objects)} samples",
                           "the sensor may be frozen (a live thermopile shows noise); the daemon raises "
                           "device_fault after hardware.thermometer.stuck_samples identical readings")
    return CheckResult(name, PASS, detail, "calibration and placement: docs/screening.md")


# --- MQTT broker ---------------------------------------------------------------------------------
def check_transport(cfg: Config) -> CheckResult:
    """How the gate reaches its broker: WARN on no TLS or no broker auth off loopback, or MQTT 3.1.1.
    (A password in clear to another host is a config error: the config check already FAILs it.)"""
    from gate.config.checks import transport_warnings

    name = "mqtt transport"
    m = cfg.mqtt
    if not m.enabled:
        return CheckResult(name, SKIP, "disabled (mqtt.enabled = false)")
    warnings = transport_warnings(cfg)
    if warnings:
        return CheckResult(name, WARN, "; ".join(warnings), "docs/uplink.md: TLS, per-gate credentials, MQTT 5")
    how = ("TLS" if m.tls_ca_file else "loopback") + f", MQTT {m.protocol}" + (f", as {m.username!r}" if m.username else "")
    return CheckResult(name, PASS, f"{m.host}:{m.port}: {how}")


def check_broker(cfg: Config, *, timeout: float = 5.0) -> CheckResult:
    """Connect with the gate's TLS and credentials (under a separate client id, so a running daemon's
    session is not taken over) and wait for the CONNACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    m = cfg.mqtt
    name = "mqtt broker"
    if not m.enabled:
        return CheckResult(name, SKIP, "disabled (mqtt.enabled = false)")
    where = f"{m.host}:{m.port}" + (" (TLS)" if m.tls_ca_file else "")
    protocol = mqtt.MQTTv5 if m.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gate-doctor-{cfg.gate.id}-{os.getpid()}",
                         protocol=protocol)
    client.connect_timeout = timeout
    outcome: dict = {}
    client.on_connect = lambda _c, _u, _f, reason, _p: outcome.setdefault("reason", reason)
    try:
        if m.tls_ca_file:
            client.tls_set(ca_certs=str(cfg.path(m.tls_ca_file)),
                           certfile=str(cfg.path(m.tls_cert_file)) if m.tls_cert_file else None,
                           keyfile=str(cfg.path(m.tls_key_file)) if m.tls_key_file else None)
        if m.username:
            password = cfg.path(m.password_file).read_text().strip() if m.password_file else None
            client.username_pw_set(m.username, password)
        client.connect(m.host, m.port, keepalive=max(5, int(timeout) * 2))
        deadline = time.monotonic() + timeout
        while "reason" not in outcome and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    except ssl.SSLError as exc:
        return CheckResult(name, FAIL, f"{where}: TLS failed: {exc}",
                           "check mqtt.tls_ca_file (the station's CA), the broker certificate's name and the clock")
    except OSError as exc:
        return CheckResult(name, FAIL, f"cannot reach {where}: {exc.strerror or exc}",
                           "is the station broker running and reachable (firewall, mqtt.host/port)? "
                           "see docs/uplink.md; the gate keeps working offline meanwhile")
    finally:
        try:
            client.disconnect()
        except Exception:  # already gone: nothing to say goodbye to
            pass
        sock = client.socket()
        if sock is not None:
            sock.close()
    reason = outcome.get("reason")
    if reason is None:
        return CheckResult(name, FAIL, f"{where}: no CONNACK within {timeout:g} s",
                           "the port answers but speaks no MQTT (TLS on a plain port, or the reverse?)")
    if reason.is_failure:
        return CheckResult(name, FAIL, f"{where}: broker refused the connection: {reason}",
                           "check mqtt.username and mqtt.password_file against the broker's password file / ACL")
    auth = f" as {m.username!r}" if m.username else ""
    return CheckResult(name, PASS, f"connected to {where}{auth}")


# --- OSDP peripheral on a serial line ---------------------------------------------------------------
def probe_osdp(port: str, *, baud: int = 9600, pd_address: int = 101, scbk: bytes | None = None,
               timeout: float = 5.0, name: str = "osdp peripheral") -> CheckResult:
    """Open the serial port, poll the peripheral and wait until the link is online (and secure when
    `scbk` is given). The daemon must be stopped: two panels cannot share one line."""
    from firmware_bridge.osdp_panel import OsdpPanel

    online = threading.Event()
    where = f"{port} ({baud} Bd, PD address {pd_address})"
    if not Path(port).exists():
        return CheckResult(name, FAIL, f"{port} does not exist",
                           "plug in the RS-485 adapter (ls -l /dev/serial/by-id/), or enable the UART "
                           "(sudo raspi-config nonint do_serial_hw 0)")
    try:
        panel = OsdpPanel(port, baud=baud, pd_address=pd_address, scbk=scbk, name="doctor",
                          on_key=lambda _k: None, on_card=lambda _c: None, on_tamper=lambda _t: None,
                          on_link=lambda up: up and online.set(), offline_after_s=timeout)
    except Exception as exc:
        return CheckResult(name, FAIL, f"{where}: {_error_text(exc)}",
                           "is the adapter plugged in (ls -l /dev/serial/by-id/) and the user in group dialout?")
    try:
        panel.start()
        up = online.wait(timeout)
        deadline = time.monotonic() + timeout
        while up and scbk is not None and not panel.is_secure and time.monotonic() < deadline:
            time.sleep(0.05)  # the secure channel handshake follows the first answers
        secure = panel.is_secure
    finally:
        panel.close()
    if not up:
        return CheckResult(name, FAIL, f"{where}: no answer within {timeout:g} s",
                           "check A/B polarity, termination, the baud rate and the PD address on the peripheral")
    if scbk is not None and not secure:
        return CheckResult(name, FAIL, f"{where}: online, but the secure channel did not come up",
                           "the peripheral has another SCBK: re-key it (install mode) or fix the key file")
    return CheckResult(name, PASS, f"{where}: online" + (", secure channel up" if secure else ", in clear"),
                       "" if scbk is not None else "no secure channel key: the line runs in clear")


# --- resident feedback: sound card, prompt pack, display ------------------------------------------

DISPLAY_WIRING_HINT = ("check VCC 3.3 V, GND, SDA -> GPIO2, SCL -> GPIO3; is I2C enabled (sudo raspi-config "
                       "nonint do_i2c 0)? `i2cdetect -y BUS` should show the address (3c or 3d)")


def check_audio(cfg: Config) -> CheckResult:
    """The ALSA device plays: 0.1 s of silence through `aplay -D feedback.audio_device`."""
    name = "audio"
    if not cfg.feedback.voice:
        return CheckResult(name, SKIP, "voice prompts are off (feedback.voice = false)")
    if cfg.hardware.mode == "simulated":
        return CheckResult(name, PASS, "simulated: prompts go to the recording sink")
    import io
    import subprocess
    import wave

    aplay = shutil.which("aplay")
    if aplay is None:
        return CheckResult(name, FAIL, "aplay not found", "sudo apt install alsa-utils")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050), w.writeframes(b"\0\0" * 2205)
    device = cfg.feedback.audio_device
    try:
        done = subprocess.run([aplay, "-q", "-D", device, "-"], input=buf.getvalue(), capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return CheckResult(name, FAIL, f"aplay -D {device}: no answer within 10 s", "is the device busy? aplay -L")
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return CheckResult(name, FAIL, f"aplay -D {device}: {err[-1] if err else done.returncode}",
                           "list the devices with aplay -L and set feedback.audio_device; a USB speaker "
                           "or the headphone jack (sudo raspi-config: System > Audio)")
    return CheckResult(name, PASS, f"ALSA device {device!r} plays")


def check_prompts(cfg: Config) -> CheckResult:
    """Every prompt of feedback.language has a WAV file in the pack."""
    name = "prompt pack"
    if not cfg.feedback.voice:
        return CheckResult(name, SKIP, "voice prompts are off (feedback.voice = false)")
    from gate.feedback.hub import prompts_dir
    from gate.feedback.pack import SPOKEN, PromptPack

    pack = PromptPack(prompts_dir(cfg))
    lang = cfg.feedback.language
    missing = pack.missing(lang)
    if missing:  # the gate runs (lights, buzzer, display) but speaks nothing: a warning
        return CheckResult(name, WARN, f"{pack.root}/{lang}: {len(missing)} of {len(SPOKEN)} prompts missing "
                           f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''})",
                           f"gatectl prompts -c CONFIG build (needs espeak-ng), or record them as {lang}/MESSAGE.wav")
    return CheckResult(name, PASS, f"{pack.root}/{lang}: all {len(SPOKEN)} prompts")


def check_display(cfg: Config) -> CheckResult:
    """The CJK font is installed and the display takes a frame (the idle screen)."""
    name = "display"
    d = cfg.feedback.display
    if d.type == "none":
        return CheckResult(name, SKIP, 'no display configured (feedback.display.type = "none")')
    from drivers.display import FONT_PACKAGE, Display, find_font

    try:
        font = find_font(str(cfg.path(d.font)) if d.font else "")
    except ValueError as exc:
        return CheckResult(name, FAIL, str(exc), f"sudo apt install {FONT_PACKAGE}")
    kind = "dummy" if cfg.hardware.mode == "simulated" else d.type
    try:
        from gate.feedback.frames import render
        from gate.i18n import text

        with Display(kind, i2c_bus=d.i2c_bus, address=d.address, rotate=d.rotate) as display:
            image, _ = render(text("idle", cfg.feedback.language), None, font, display.size)
            display.show(image)
    except ValueError as exc:  # luma.oled not installed, unknown type
        return CheckResult(name, FAIL, str(exc), "pip install 'compound-gate[feedback]'")
    except OSError as exc:
        return CheckResult(name, FAIL, _error_text(exc), DISPLAY_WIRING_HINT)
    where = "simulated (luma dummy)" if kind == "dummy" else f"{d.type} at I2C bus {d.i2c_bus} address {d.address:#04x}"
    return CheckResult(name, PASS, f"{where}: idle screen shown, font {font.name}")


def feedback_checks(cfg: Config) -> list[CheckResult]:
    return [check_audio(cfg), check_prompts(cfg), check_display(cfg)]
