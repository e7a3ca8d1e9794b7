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
    poll_hz: float = _f(10.0, "card polls per second", min=1.0, max=50.0)
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
    host: str = _f("127.0.0.1")
    port: int = _f(1883, min=1, max=65535)
    topic_prefix: str = _f("compound")
    command_secret_file: str = _f("/etc/gate/command.secret", "HMAC key for station commands", file=True)
    client_id: str = _f("", "default: gate-<gate.id>")
    protocol: str = _f("3.1.1", choices=("3.1.1", "5"))
    keepalive_seconds: int = _f(20, min=5, max=600)
    reconnect_min_seconds: float = _f(1.0, min=0.1, max=60.0)
    reconnect_max_seconds: float = _f(60.0, min=1.0, max=3600.0)
    tls_ca_file: str = _f("", "CA bundle; setting it turns TLS on", file=True)
    tls_cert_file: str = _f("", "client certificate (mutual TLS)", file=True)
    tls_key_file: str = _f("", "client key (mutual TLS)", file=True)
    username: str = _f("")
    password_file: str = _f("", "file holding the broker password", file=True)
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
    osdp: OsdpKeypad = _sub(OsdpKeypad)
    gpio: GpioKeypad = _sub(GpioKeypad)


@dataclass(frozen=True)
class CredentialsSection:
    enabled: bool = _f(False, "cloned-card defence: registered cards must carry a valid credential block")
    site_key_file: str = _f("", "the site key (at least 16 bytes; gatectl secret PATH makes one)", file=True)
    uid_only_readers: tuple[str, ...] = _f((), "readers allowed to grant on the UID alone although the defence is on "
                                           "(e.g. an OSDP reader that cannot read sectors); others are refused")


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
