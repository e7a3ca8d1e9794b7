"""The gate's configuration: frozen dataclasses loaded from TOML (see config/gate.example.toml).

Every key has a default; `load_config` collects all problems with their key paths and raises one
ConfigError listing them. Relative paths are resolved against the config file's folder.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gate.config.loader import check_files, load_section, resolve_path
from gate.core.errors import ConfigError


def _f(default, doc: str = "", **meta):
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata={"doc": doc, **meta})
    return field(default=default, metadata={"doc": doc, **meta})


def _sub(cls):
    return field(default_factory=cls)


@dataclass(frozen=True)
class GateSection:
    id: str = _f("gate-1", "unique per gate; used in MQTT topics")
    name: str = _f("", "human-readable name shown at the station")
    timezone: str = _f("UTC", "IANA time zone for schedules and daily quotas, e.g. Asia/Shanghai")


@dataclass(frozen=True)
class StorageSection:
    dir: str = _f("/var/lib/gate", "all state of this gate: journal, passes, guards, sim socket")
    retention_days: int = _f(90, "ordinary events older than this are deleted", min=1, max=3650)
    security_retention_days: int = _f(365, "refusals, alarms, overrides are kept this long", min=1, max=3650)
    max_records: int = _f(2_000_000, "beyond this count the oldest delivered ordinary events go first (undelivered ones are never deleted)", min=1000, max=100_000_000)
    min_free_mb: int = _f(64, "below this free space the gate raises a storage_low alarm (and keeps deciding)", min=1, max=1_000_000)
    retention_interval_minutes: float = _f(60.0, "how often the retention policy and free space are checked", min=1.0, max=1440.0)


@dataclass(frozen=True)
class RfidHardware:
    enabled: bool = _f(True)
    spi_bus: int = _f(0, min=0, max=6)
    spi_device: int = _f(0, min=0, max=2)
    rst_pin: int = _f(25, "BCM pin wired to the reader's RST", min=0, max=27)
    poll_hz: float = _f(20.0, "card polls per second (20: a card held 100 ms is seen)", min=1.0, max=50.0)
    fault_threshold: int = _f(3, "failed polls in a row before a device_fault alarm", min=1, max=100)
    health_interval_seconds: float = _f(30.0, "VersionReg probe interval", min=1.0, max=3600.0)
    role: str = _f(
        "both",
        'which way a tap at this reader goes: "entry", "exit", or "both" (the reader/keypad says, '
        "else inferred from the pass's last passage)",
        choices=("entry", "exit", "both"),
    )


@dataclass(frozen=True)
class ThermometerHardware:
    enabled: bool = _f(True)
    i2c_bus: int = _f(1, min=0, max=20)
    address: int = _f(0x5A, "7-bit I2C address", min=0x03, max=0x77)
    sample_hz: float = _f(4.0, "samples per second", min=0.5, max=20.0)
    fault_threshold: int = _f(3, "failed reads in a row before a device_fault alarm", min=1, max=100)
    retries: int = _f(3, "retries of one read after a NACK or a bad PEC", min=0, max=10)
    stuck_samples: int = _f(20, "identical readings in a row that mean a stuck sensor (0: off)", min=0, max=1000)


@dataclass(frozen=True)
class GpioHardware:
    lock_pin: int = _f(17, "BCM pin driving the lock relay", min=0, max=27)
    lock_relay_active_high: bool = _f(True, "true when the relay board energises on a high pin")
    door_pin: int = _f(27, "door contact input (closed contact = door closed, pulled up)", min=0, max=27)
    door_open_is_high: bool = _f(True, "true when the pin reads high with the door open (NC contact to ground)")
    exit_pin: int = _f(22, "request-to-exit button (to ground)", min=0, max=27)
    fire_pin: int = _f(23, "fire-alarm release input (to ground when the fire panel releases)", min=0, max=27)
    tamper_pin: int = _f(24, "enclosure tamper switch (high = tampered)", min=0, max=27)
    green_led_pin: int = _f(5, min=0, max=27)
    red_led_pin: int = _f(6, min=0, max=27)
    buzzer_pin: int = _f(13, min=0, max=27)


@dataclass(frozen=True)
class SimulationHardware:
    """Faults of the emulated devices (hardware.mode = "simulated" only), for `gatectl doctor` and
    drills: what an installer would see with that part broken."""

    rfid_chip: str = _f("present", '"absent": the reader chip does not answer (VersionReg reads 0x00)',
                        choices=("present", "absent"))
    thermometer: str = _f("ok", "fault of the emulated MLX90614",
                          choices=("ok", "nack", "corrupt_pec", "error_flag", "stuck"))


@dataclass(frozen=True)
class HardwareSection:
    mode: str = _f("pi", '"pi" (real buses) or "simulated" (emulated chips)', choices=("pi", "simulated"))
    rfid: RfidHardware = _sub(RfidHardware)
    thermometer: ThermometerHardware = _sub(ThermometerHardware)
    gpio: GpioHardware = _sub(GpioHardware)
    simulation: SimulationHardware = _sub(SimulationHardware)


@dataclass(frozen=True)
class MqttSection:
    enabled: bool = _f(True, "false: journal locally only")
    host: str = _f("127.0.0.1", "the station broker; off loopback TLS and credentials are expected",
                   example="station.example.net")
    port: int = _f(1883, min=1, max=65535, example=8883)
    topic_prefix: str = _f("compound")
    command_secret_file: str = _f("/etc/gate/command.secret", "HMAC key for station commands", file=True)
    client_id: str = _f("", "default: mqtt.username, else gate-<gate.id> (the broker binds it: use_username_as_clientid)")
    protocol: str = _f("5", '"5": live retained commands refused, Maximum-Packet-Size announced; "3.1.1" warns',
                       choices=("3.1.1", "5"))
    keepalive_seconds: int = _f(20, min=5, max=600)
    reconnect_min_seconds: float = _f(1.0, min=0.1, max=60.0)
    reconnect_max_seconds: float = _f(60.0, min=1.0, max=3600.0)
    alarm_reconnect_max_seconds: float = _f(5.0, "while an alarm waits for the station, no reconnect wait is longer",
                                            min=1.0, max=60.0)
    allow_plaintext: bool = _f(False, "true: allow a broker password without TLS to a non-loopback host (never do)")
    tls_ca_file: str = _f("", "CA bundle; setting it turns TLS on (required off loopback)", file=True,
                          example="/etc/gate/station-ca.pem")
    tls_cert_file: str = _f("", "client certificate (mutual TLS)", file=True, example="/etc/gate/gate.crt")
    tls_key_file: str = _f("", "client key (mutual TLS)", file=True, example="/etc/gate/gate.key")
    username: str = _f("", "this gate's own broker user: its gate.id (the per-gate ACL uses it)",
                       example="gucun-47-north")
    password_file: str = _f("", "file holding the broker password (0600; never in this file)", file=True,
                            example="/etc/gate/mqtt.password")
    command_max_skew_seconds: float = _f(30.0, "commands whose issued_at is further from the gate's clock are rejected", min=1.0, max=600.0)
    max_in_flight: int = _f(100, "QoS 1 records awaiting PUBACK at once (the rest wait in the journal)", min=1, max=1000)
    replay_batch: int = _f(100, "records a replay republishes per round, so live alarms are never held back long", min=1, max=1000)


@dataclass(frozen=True)
class LockSection:
    unlock_seconds: float = _f(5, "how long a grant keeps the lock released", min=1, max=60)
    wiring: str = _f(
        "fail-secure",
        '"fail-secure": unpowered = locked, the relay energises to release; '
        '"fail-safe": unpowered = released (maglock held by the energised relay). '
        "When the daemon stops the relay is de-energised: the lock does what it does on a power cut "
        "(docs/door-safety.md)",
        choices=("fail-secure", "fail-safe"),
    )


@dataclass(frozen=True)
class DoorSection:
    held_open_seconds: float = _f(30, "door open longer than this after a grant: held_open alarm", min=3, max=3600)
    prealarm_seconds: float = _f(10, "local buzzer this long before the held_open alarm (0: none)", min=0, max=600)
    debounce_ms: int = _f(
        150, "contact changes shorter than this are bounce; a forced opening is reported this long after it starts",
        min=0, max=390,
    )
    exit_unlock_seconds: float = _f(5, "how long the exit button releases the lock", min=1, max=60)


@dataclass(frozen=True)
class ScreeningSection:
    fever_threshold_c: float = _f(37.3, "at or above: refused, fever alarm", min=35.0, max=42.0)
    mode: str = _f("enforce", '"enforce" refuses fever; "log-only" grants and alarms; "off"',
                   choices=("enforce", "log-only", "off"))
    unavailable_policy: str = _f("refuse", "no valid reading in time or a faulty sensor: refuse or grant "
                                 "(the guard is signalled either way)", choices=("refuse", "grant"))
    offset_c: float = _f(0.0, "added to the forehead reading to estimate body temperature (calibrate!)",
                         min=-5.0, max=5.0)
    window_before_s: float = _f(0.0, "samples up to this long before the tap count (0: only after the tap, so the previous resident's reading never counts)", min=0.0, max=10.0)
    window_after_s: float = _f(4.0, "how long after the tap a valid reading may take", min=0.5, max=30.0)
    min_samples: int = _f(3, "valid samples whose median makes a measurement", min=1, max=50)
    presence_margin_c: float = _f(2.0, "object this much above ambient means someone is in front", min=0.5, max=10.0)
    skin_min_c: float = _f(25.0, "below: nobody in front", min=0.0, max=45.0)
    skin_max_c: float = _f(45.0, "above: not skin", min=30.0, max=80.0)
    plausible_min_c: float = _f(35.0, "body temperature below this asks for a retest (too cold)", min=30.0, max=40.0)
    plausible_max_c: float = _f(42.5, "body temperature above this asks for a retest (implausible)", min=38.0, max=45.0)
    screen_exits: bool = _f(True, "screen residents going out too (false: only entries are screened)")


@dataclass(frozen=True)
class RuleSchedules:
    """Weekly windows per pass type, e.g. worker = ["mon-fri 07:00-19:00"]; empty: any time."""

    resident: tuple[str, ...] = _f((), "windows like \"mon-fri 07:00-19:00\" or \"daily 22:00-06:00\"; [] = any time")
    visitor: tuple[str, ...] = _f((), "entries outside every window are refused (outside_hours)")
    worker: tuple[str, ...] = _f((), "times are local (gate.timezone); an end <= start runs past midnight")
    delivery: tuple[str, ...] = _f(())
    staff: tuple[str, ...] = _f(())


@dataclass(frozen=True)
class RulesSection:
    """Community rules (docs/rules.md). Every rule is off unless set here; quarantine is set per
    household or pass with `gatectl households quarantine` / `gatectl passes quarantine`."""

    anti_passback: str = _f("off", "in/out anti-passback: off; soft (grant, log); hard (refuse)",
                            choices=("off", "soft", "hard"))
    outing_types: tuple[str, ...] = _f(("resident",), "pass types whose exits are outings (quota, outing limit)")
    exit_quota: int = _f(0, "outings allowed per household per period; 0 = no quota", min=0, max=1000)
    quota_period_days: int = _f(1, "length of a quota period in days", min=1, max=366)
    quota_window: str = _f("calendar", "calendar: periods of whole local days from quota_anchor; "
                           "rolling: the last quota_period_days x 24 h", choices=("calendar", "rolling"))
    quota_anchor: str = _f("1970-01-01", "calendar windows: a local date on which a period starts")
    outing_limit_minutes: int = _f(0, "an outing not back after this long raises overdue; 0 = off", min=0, max=100_000)
    unknown_card_attempts: int = _f(0, "this many taps of one unknown card within the window raise "
                                    "unknown_card_repeated; 0 = off", min=0, max=1000)
    unknown_card_window_seconds: float = _f(60.0, min=1.0, max=86400.0)
    schedules: RuleSchedules = _sub(RuleSchedules)


@dataclass(frozen=True)
class OsdpKeypad:
    port: str = _f("/dev/ttyUSB0", "RS-485 adapter of the OSDP peripheral (ignored in simulation: a pty)")
    baud: int = _f(9600, choices=(9600, 19200, 38400, 57600, 115200))
    address: int = _f(101, "the peripheral's OSDP address", min=0, max=126)
    scbk_file: str = _f("", "secure-channel base key, 32 hex digits, mode 0600 (simulation: random when empty)",
                        file=True)
    name: str = _f("osdp-keypad", "device name in device_fault/tamper records and the reader name of its card reads")
    reader_role: str = _f("both", "direction of card reads on this peripheral", choices=("entry", "exit", "both"))
    offline_after_seconds: float = _f(8.0, "silence before the peripheral is declared offline", min=1.0, max=9.5)


@dataclass(frozen=True)
class GpioKeypad:
    row_pins: tuple[int, ...] = _f((12, 16, 20, 21), "BCM pins of the keypad rows")
    col_pins: tuple[int, ...] = _f((19, 26, 4), "BCM pins of the keypad columns")
    keymap: tuple[str, ...] = _f(("123", "456", "789", "*0#"), "one string per row")
    scan_hz: float = _f(50.0, min=10.0, max=200.0)


@dataclass(frozen=True)
class KeypadSection:
    source: str = _f("none", '"osdp": an OSDP peripheral on RS-485; "gpio": a matrix keypad; "none"',
                     choices=("osdp", "gpio", "none"))
    min_pin_length: int = _f(6, "guard PINs shorter than this are refused", min=4, max=12)
    entry_timeout_seconds: float = _f(10.0, "a partial entry is dropped this long after its last key", min=2.0, max=120.0)
    max_attempts: int = _f(5, "wrong PINs in a row before the keypad locks out", min=1, max=20)
    lockout_seconds: float = _f(30.0, "first lockout; doubles at each further lockout", min=1.0, max=3600.0)
    lockout_max_seconds: float = _f(3600.0, min=1.0, max=86400.0)
    lockout_alarm_per_day: int = _f(3, "the Nth lockout within 24 h (and every Nth after it) raises "
                                    "keypad_lockouts_repeated; 0: never", min=0, max=100)
    osdp: OsdpKeypad = _sub(OsdpKeypad)
    gpio: GpioKeypad = _sub(GpioKeypad)


@dataclass(frozen=True)
class CredentialsSection:
    enabled: bool = _f(False, "cloned-card defence: registered cards must carry a valid credential block")
    site_key_file: str = _f("", "the site key (at least 16 bytes; gatectl secret PATH makes one)", file=True)
    uid_only_readers: tuple[str, ...] = _f((), "readers allowed to grant on the UID alone although the defence is on "
                                           "(e.g. an OSDP reader that cannot read sectors); others are refused")


@dataclass(frozen=True)
class ReceiverEntry:
    """One `[[receivers]]` entry: an SIA DC-09 alarm receiver this gate also sends its alarms to (a
    second path beside MQTT; docs/station.md, "Alarm receivers (SIA DC-09)")."""

    protocol: str = _f("dc09", "SIA DC-09 over TCP", choices=("dc09",))
    name: str = _f("", "shown in logs and status; default HOST:PORT")
    host: str = _f("127.0.0.1")
    port: int = _f(7000, min=1, max=65535)
    backups: tuple[str, ...] = _f((), "HOST:PORT of the receiver's other lines, tried in order when this one fails")
    account: str = _f("", "this gate's account at the receiver: 3-16 hex characters (required)")
    key_file: str = _f("", "encrypted DC-09: the file holds the key as the receiver shows it (16/24/32 hex)", file=True)
    format: str = _f("ADM-CID", "ADM-CID (Contact ID) or SIA-DCS", choices=("ADM-CID", "SIA-DCS"))
    receiver_number: str = _f("0", "the R field (hex)")
    line: str = _f("0", "the L (line prefix) field (hex)")
    supervision_seconds: float = _f(60.0, "a NULL link test after this long without traffic; 0: none", min=0.0, max=86400.0)
    ack_timeout_seconds: float = _f(10.0, "wait this long for the receiver's ACK", min=0.1, max=300.0)
    retry_initial_seconds: float = _f(1.0, "first retry delay, doubling", min=0.01, max=3600.0)
    retry_max_seconds: float = _f(60.0, "longest retry delay", min=0.01, max=3600.0)
    retries_per_address: int = _f(3, "failed attempts before the next address (backups)", min=1, max=100)
    max_age_seconds: float = _f(86400.0, "older records are not sent (a backlog from long ago); 0: no limit", min=0.0)


@dataclass(frozen=True)
class FeedbackDisplay:
    type: str = _f("none", '"ssd1306" or "sh1106": a 128x64 I2C OLED (luma.oled, the feedback extra); "none". '
                   "In simulation any type is luma's dummy device", choices=("none", "ssd1306", "sh1106"))
    i2c_bus: int = _f(1, min=0, max=20)
    address: int = _f(0x3C, "7-bit I2C address (0x3C or 0x3D on most modules)", min=0x03, max=0x77)
    rotate: int = _f(0, "0, 1, 2 or 3 quarter turns", min=0, max=3)
    font: str = _f("", 'a CJK font file; "" = WenQuanYi Zen Hei (Debian package fonts-wqy-zenhei)', file=True)


@dataclass(frozen=True)
class FeedbackSection:
    """What residents hear and see (docs/feedback.md)."""

    language: str = _f("zh-CN", "language of the spoken prompts and the display", choices=("zh-CN", "en"))
    voice: bool = _f(True, "speak the outcome of each tap (a prompt pack, see gatectl prompts build)")
    volume: float = _f(0.8, "playback volume, 0 to 1", min=0.0, max=1.0)
    quiet_hours: tuple[str, ...] = _f(("daily 22:00-07:00",), 'windows like "daily 22:00-07:00" (local, '
                                      "gate.timezone) when prompts play at quiet_volume; [] = never")
    quiet_volume: float = _f(0.3, "volume during quiet_hours, 0 to 1", min=0.0, max=1.0)
    prompts_dir: str = _f("", 'folder of the prompt pack (LANG/MESSAGE.wav); "" = STORAGE_DIR/prompts. '
                          "Recordings a site puts there replace the synthesised voice")
    audio_device: str = _f("default", "ALSA playback device for aplay -D (aplay -L lists them)")
    display_seconds: float = _f(5.0, "how long an outcome (with name and temperature) stays on the display",
                                min=1.0, max=30.0)
    display: FeedbackDisplay = _sub(FeedbackDisplay)


@dataclass(frozen=True)
class Config:
    gate: GateSection = _sub(GateSection)
    storage: StorageSection = _sub(StorageSection)
    hardware: HardwareSection = _sub(HardwareSection)
    mqtt: MqttSection = _sub(MqttSection)
    lock: LockSection = _sub(LockSection)
    door: DoorSection = _sub(DoorSection)
    screening: ScreeningSection = _sub(ScreeningSection)
    credentials: CredentialsSection = _sub(CredentialsSection)
    keypad: KeypadSection = _sub(KeypadSection)
    rules: RulesSection = _sub(RulesSection)
    # [[receivers]]: not in the generated example (an array of tables); documented in docs/station.md.
    receivers: tuple[ReceiverEntry, ...] = field(default=(), metadata={"internal": True})
    feedback: FeedbackSection = _sub(FeedbackSection)
    base_dir: Path = field(default=Path("."), metadata={"internal": True})

    def path(self, value: str) -> Path:
        """Resolve a path from the config (relative to the config file's folder)."""
        return resolve_path(value, self.base_dir)

    @property
    def storage_dir(self) -> Path:
        return self.path(self.storage.dir)


def parse_config(table: dict, base_dir: Path, *, check_paths: bool = True) -> Config:
    """Build a Config from a parsed TOML table. Raises ConfigError with every problem."""
    problems: list[str] = []
    cfg = load_section(Config, table, "", problems)
    if cfg is not None:
        from gate.config.checks import cross_checks

        cfg = dataclasses.replace(cfg, base_dir=base_dir)
        cross_checks(cfg, problems)
        from gate.rules.settings import config_problems as rules_problems

        problems += rules_problems(cfg)
        from gate.dc09.settings import receiver_settings

        extra: list[str] = []
        receiver_settings([dataclasses.asdict(r) for r in cfg.receivers], base_dir, extra, read_keys=check_paths)
        seen = {p.split(":", 1)[0] for p in problems}  # the schema already named a bad value: once is enough
        problems += [p for p in extra if p.split(":", 1)[0] not in seen]
        if check_paths:
            check_files(cfg, "", problems, base_dir)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: str | Path, *, check_paths: bool = True) -> Config:
    """Read and validate a TOML config file. Raises ConfigError listing every problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read config: {exc.strerror or exc}"]) from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from None
    return parse_config(table, p.resolve().parent, check_paths=check_paths)
