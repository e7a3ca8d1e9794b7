"""Station configuration (TOML): broker, topics, store, per-gate command secrets.

All problems are collected and reported together, each starting with its key path, like the gate's
`check-config`. Unknown keys are rejected with a "did you mean" hint.

Settings the gate's config has too are spelt as the gate spells them: `[mqtt] protocol = "5"` (or
"3.1.1"), `keepalive_seconds`, `tls_ca_file` / `tls_cert_file` / `tls_key_file` (setting
`tls_ca_file` turns TLS on; `[mqtt.tls] enabled = true` alone, a station-only setting, is TLS
with the system's CAs). The older station spellings (`protocol = 5`, `keepalive`, `ca_file`,
`cert_file`, `key_file` in `[mqtt.tls]`) are still accepted as deprecated aliases;
`StationConfig.warnings` names each one used (check-config and the station commands print them).
"""
from __future__ import annotations

import difflib
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gate.core.errors import ConfigError, InputError
from gate.dc09.frame import check_account
from gate.dc09.settings import number_table, receiver_settings
from gate.station.config_keeping import check_keeping
from gate.uplink.signing import load_secret

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "station": {"client_id": str, "store": str, "timezone": str, "supervision_seconds": (int, float),
                "retain_days": (int, float), "retain_alarm_days": (int, float)},
    "mqtt": {
        "host": str, "port": int, "topic_prefix": str, "keepalive_seconds": int, "protocol": (str, int),
        "username": str, "password_file": str, "shared_group": str, "session_expiry_seconds": int,
        "tls_ca_file": str, "tls_cert_file": str, "tls_key_file": str,
        "keepalive": int,                     # deprecated alias of keepalive_seconds
    },
    "mqtt.tls": {"enabled": bool, "ca_file": str, "cert_file": str, "key_file": str},
    "replay": {
        "grace_seconds": (int, float), "retry_initial_seconds": (int, float),
        "retry_max_seconds": (int, float), "max_batch": int, "backfill_new_gates": bool,
        "budget_records_per_second": (int, float),
    },
    "commands": {"result_timeout_seconds": (int, float)},
    "web": {"listen": str, "session_hours": (int, float), "escalate_after_seconds": (int, float),
            "cookie_secure": bool, "snapshot_timeout_seconds": (int, float)},
}
# Removed keys: a clear error saying what to do instead of "unknown key".
_REMOVED = {
    ("commands", "default_secret_file"):
        "no longer supported: one key shared by several gates lets anyone holding one gate's SD card "
        "forge commands to, and records from, every gate sharing it. Give each gate its own key "
        "(`gatectl secret FILE` writes one, mode 0600) in [gates.\"GATE-ID\"] secret_file, install the "
        "same file as that gate's mqtt.command_secret_file, and remove this key",
}
_GATE_KEYS = {"secret_file": str, "account": str, "zones": dict, "users": dict,
              "name": str, "compound": str, "snapshot_url": str, "snapshot_auth_file": str,
              "supervision_seconds": (int, float)}
_DC09_KEYS = {"outbox": str}  # [dc09] outbox: the DC-09 outbox file (default: beside the store)


@dataclass(frozen=True)
class WebConfig:
    """The officers' web console (`serve`): where it listens and how long sessions and claims last."""

    host: str = "127.0.0.1"
    port: int = 8080
    session_hours: float = 12.0
    escalate_after_seconds: float = 300.0
    cookie_secure: bool = False  # set true behind HTTPS so the session cookie never travels in clear
    snapshot_timeout_seconds: float = 3.0


@dataclass(frozen=True)
class GateInfo:
    """What officers are shown about a gate, and where its camera's snapshot is."""

    name: str = ""
    compound: str = ""
    snapshot_url: str = ""
    snapshot_auth_file: str = ""  # "user:password" on its first line (basic or digest)


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class StationConfig:
    """A validated station configuration. Paths are absolute (relative ones resolve against the file)."""

    client_id: str = "gate-station"
    store: str = "station.db"
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "compound"
    keepalive: int = 30
    protocol: int = 5
    username: str = ""
    password_file: str = ""
    shared_group: str = ""
    session_expiry_seconds: int = 0  # clean sessions: the gates' journals are the memory
    tls: TlsConfig = field(default_factory=TlsConfig)
    grace_seconds: float = 2.0
    retry_initial_seconds: float = 2.0
    retry_max_seconds: float = 60.0
    max_batch: int = 500
    backfill_new_gates: bool = True
    # All replay asks of one consumer together, in records per second (replay_schedule.ReplayBudget)
    replay_budget_records_per_second: float = 1000.0
    result_timeout_seconds: float = 10.0
    gate_secrets: dict[str, str] = field(default_factory=dict)
    # SIA DC-09 alarm receivers (interface §6.2; gate/station/receivers.py forwards to them)
    receivers: tuple = ()
    receivers_outbox: str = ""
    gate_accounts: dict[str, str] = field(default_factory=dict)
    gate_zones: dict[str, dict[str, int]] = field(default_factory=dict)
    gate_users: dict[str, dict[str, int]] = field(default_factory=dict)
    timezone: str = "UTC"
    web: WebConfig = field(default_factory=WebConfig)
    gate_info: dict[str, GateInfo] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()       # deprecated spellings used, one 'key.path: ...' line each
    # Supervision and retention (docs/station.md): seconds without a verified word from a gate before
    # it is a gate_silent alarm (0: off), per gate overrides; days records and alarms are kept (0: forever).
    supervision_seconds: float = 300.0
    gate_supervision: dict[str, float] = field(default_factory=dict)
    retain_days: float = 0.0
    retain_alarm_days: float = 0.0

    @property
    def known_gates(self) -> list[str]:
        return sorted(self.gate_secrets)

    def secret_file_for(self, gate: str) -> str:
        """The secret file of `gate`; ConfigError naming the gate when none is configured (there is
        no shared default: every gate has its own key)."""
        path = self.gate_secrets.get(gate)
        if not path:
            raise ConfigError([f"gates.{str(gate)[:128]}.secret_file: no command secret for gate {str(gate)[:128]!r} "
                               "(every gate needs its own [gates.\"ID\"] secret_file)"])
        return path

    def secret_for(self, gate: str) -> bytes:
        """The HMAC key bytes for `gate`. The file is checked (stat) at most once a second and re-read
        when it changed, so a rotated key takes effect within a second without a restart; in between
        the key is served from memory (every received record is verified with it)."""
        return _cached_secret(self.secret_file_for(gate))

    def gate_name(self, gate: str) -> str:
        """The human name officers see (the gate id when none is configured)."""
        info = self.gate_info.get(gate)
        return info.name if info and info.name else gate

    def supervision_for(self, gate: str) -> float:
        """Seconds of silence before `gate` is a gate_silent alarm; 0: not supervised."""
        return self.gate_supervision.get(gate, self.supervision_seconds)

    def gate_compound(self, gate: str) -> str:
        info = self.gate_info.get(gate)
        return info.compound if info else ""

    def password(self) -> str | None:
        if not self.password_file:
            return None
        return Path(self.password_file).read_text(encoding="utf-8").strip()


_SECRETS: dict[str, tuple[float, tuple[int, int, int], bytes]] = {}  # path -> (checked at, stat, key)
_RECHECK_SECONDS = 1.0  # a rotated key file takes effect within this long


def _cached_secret(path: str) -> bytes:
    now = time.monotonic()
    hit = _SECRETS.get(path)
    if hit is not None and now - hit[0] < _RECHECK_SECONDS:
        return hit[2]
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    key = hit[2] if hit is not None and hit[1] == stamp else load_secret(path)
    _SECRETS[path] = (now, stamp, key)
    return key


def _check_table(path: str, table: Any, schema: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        problems.append(f"{path}: must be a table")
        return {}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if path == "mqtt" and key == "tls":
            continue
        if (path, key) in _REMOVED:
            problems.append(f"{path}.{key}: {_REMOVED[(path, key)]}")
            continue
        if key not in schema:
            hint = difflib.get_close_matches(key, list(schema), n=1)
            problems.append(f"{path}.{key}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        expected = schema[key]
        if isinstance(value, bool) and expected in (int, (int, float), (str, int)):
            problems.append(f"{path}.{key}: must be a number, got {value!r}")
        elif not isinstance(value, expected):
            name = (expected.__name__ if isinstance(expected, type)
                    else "string" if str in expected else "number")
            problems.append(f"{path}.{key}: must be a {name}, got {value!r}")
        else:
            out[key] = value
    return out


def parse_station_config(data: dict[str, Any], base_dir: Path | None = None) -> StationConfig:
    """Validate a parsed TOML document. Raises ConfigError with every problem at once."""
    problems: list[str] = []
    base = base_dir or Path.cwd()
    tables = ["station", "mqtt", "replay", "commands", "gates", "receivers", "dc09", "web"]
    for key in data:
        if key not in tables:
            hint = difflib.get_close_matches(key, tables, n=1)
            problems.append(f"{key}: unknown table" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    station = _check_table("station", data.get("station", {}), _SCHEMA["station"], problems)
    mqtt_raw = data.get("mqtt", {})
    mqtt = _check_table("mqtt", mqtt_raw, _SCHEMA["mqtt"], problems)
    tls = _check_table("mqtt.tls", mqtt_raw.get("tls", {}) if isinstance(mqtt_raw, dict) else {},
                       _SCHEMA["mqtt.tls"], problems)
    replay = _check_table("replay", data.get("replay", {}), _SCHEMA["replay"], problems)
    commands = _check_table("commands", data.get("commands", {}), _SCHEMA["commands"], problems)
    web = _parse_web(_check_table("web", data.get("web", {}), _SCHEMA["web"], problems), problems)
    timezone = station.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"station.timezone: unknown time zone {timezone!r} (e.g. \"Asia/Shanghai\")")
    gate_info: dict[str, GateInfo] = {}

    def resolve(p: str) -> str:
        return str((base / p).resolve()) if p else ""

    gate_secrets: dict[str, str] = {}
    gate_accounts: dict[str, str] = {}
    gate_zones: dict[str, dict[str, int]] = {}
    gate_users: dict[str, dict[str, int]] = {}
    gate_supervision: dict[str, float] = {}
    receivers = receiver_settings(data.get("receivers"), base, problems,
                                  account_required=False)  # a gate's own account may stand in
    outbox = _check_table("dc09", data.get("dc09", {}), _DC09_KEYS, problems)
    gates = data.get("gates", {})
    if not isinstance(gates, dict):
        problems.append("gates: must be a table of [gates.\"GATE-ID\"] tables")
        gates = {}
    for gate_id, table in gates.items():
        entry = _check_table(f"gates.{gate_id}", table, _GATE_KEYS, problems)
        if "/" in gate_id or "+" in gate_id or "#" in gate_id:
            problems.append(f"gates.{gate_id}: a gate id must not contain '/', '+' or '#'")
        if "account" in entry:
            gate_accounts[gate_id] = entry["account"]
            try:
                check_account(entry["account"])
            except InputError as exc:
                problems.append(f"gates.{gate_id}.account: {exc}")
        for key, into in (("zones", gate_zones), ("users", gate_users)):
            if key in entry:
                into[gate_id] = number_table(entry[key], f"gates.{gate_id}.{key}", problems)
        gate_info[gate_id] = GateInfo(name=entry.get("name", ""), compound=entry.get("compound", ""),
                                      snapshot_url=entry.get("snapshot_url", ""),
                                      snapshot_auth_file=resolve(entry.get("snapshot_auth_file", "")))
        if entry.get("snapshot_url") and not entry["snapshot_url"].startswith(("http://", "https://")):
            problems.append(f"gates.{gate_id}.snapshot_url: must be an http:// or https:// URL")
        if "supervision_seconds" in entry:
            gate_supervision[gate_id] = float(entry["supervision_seconds"])
        if "secret_file" in entry:
            gate_secrets[gate_id] = resolve(entry["secret_file"])
        elif isinstance(table, dict):
            problems.append(f"gates.{gate_id}.secret_file: required")

    warnings: list[str] = []
    if "keepalive" in mqtt:
        warnings.append("mqtt.keepalive: deprecated spelling; write keepalive_seconds (as the gate does)")
        if "keepalive_seconds" in mqtt:
            problems.append("mqtt.keepalive: give keepalive_seconds only (keepalive is its old name)")
        mqtt.setdefault("keepalive_seconds", mqtt["keepalive"])
    protocol = _protocol(mqtt.get("protocol", "5"), problems, warnings)
    for key in ("ca_file", "cert_file", "key_file"):
        if key in tls:
            warnings.append(f"mqtt.tls.{key}: deprecated spelling; write mqtt.tls_{key} (as the gate "
                            "does; tls_ca_file turns TLS on)")
        for key in ("ca_file", "cert_file", "key_file"):
            if f"tls_{key}" in mqtt and key in tls:
                problems.append(f"mqtt.tls.{key}: given twice (also as mqtt.tls_{key})")
    for key in ("ca_file", "cert_file", "key_file"):
        if f"tls_{key}" in mqtt:
            tls[key] = mqtt[f"tls_{key}"]
    if any(f"tls_{key}" in mqtt for key in ("ca_file", "cert_file", "key_file")):
        tls.setdefault("enabled", True)
    port = mqtt.get("port", 1883)
    if not 1 <= port <= 65535:
        problems.append(f"mqtt.port: must be between 1 and 65535, got {port}")
    prefix = mqtt.get("topic_prefix", "compound")
    if not prefix or any(c in prefix for c in "+#") or prefix.startswith("$") or prefix.endswith("/"):
        problems.append(f"mqtt.topic_prefix: must be a non-empty topic without wildcards, got {prefix!r}")
    group = mqtt.get("shared_group", "")
    if group and any(c in group for c in "/+#"):
        problems.append(f"mqtt.shared_group: must not contain '/', '+' or '#', got {group!r}")
    if group and protocol != 5:
        problems.append("mqtt.shared_group: shared subscriptions need mqtt.protocol = \"5\"")
    if not 0 <= mqtt.get("session_expiry_seconds", 0) <= 0xFFFFFFFF:
        problems.append("mqtt.session_expiry_seconds: must be between 0 and 4294967295, "
                        f"got {mqtt['session_expiry_seconds']}")
    if mqtt.get("keepalive_seconds", 30) < 5:
        problems.append(f"mqtt.keepalive_seconds: must be at least 5 seconds, got {mqtt['keepalive_seconds']}")
    for key in ("grace_seconds", "retry_initial_seconds", "retry_max_seconds"):
        if key in replay and replay[key] < 0:
            problems.append(f"replay.{key}: must not be negative, got {replay[key]}")
    if replay.get("retry_initial_seconds", 2.0) > replay.get("retry_max_seconds", 60.0):
        problems.append("replay.retry_max_seconds: must be at least replay.retry_initial_seconds")
    if not 1 <= replay.get("max_batch", 500) <= 100_000:
        problems.append(f"replay.max_batch: must be between 1 and 100000, got {replay['max_batch']}")
    if not 1 <= replay.get("budget_records_per_second", 1000.0) <= 1_000_000:
        problems.append("replay.budget_records_per_second: must be between 1 and 1000000, "
                        f"got {replay['budget_records_per_second']}")
    if commands.get("result_timeout_seconds", 10.0) <= 0:
        problems.append("commands.result_timeout_seconds: must be positive")
    if tls.get("enabled") and bool(tls.get("cert_file")) != bool(tls.get("key_file")):
        problems.append("mqtt.tls.key_file: cert_file and key_file go together")
    for i, r in enumerate(receivers):
        if not r.account and any(g not in gate_accounts for g in gates):
            problems.append(f"receivers[{i}].account: required unless every gate has its own [gates.\"ID\"] account")
    check_keeping(station, gate_supervision, problems)
    if problems:
        raise ConfigError(problems)
    store = station.get("store", "station.db")
    store_path = store if store.startswith(("postgresql://", "postgres://")) else resolve(store)  # a URL stays a URL
    return StationConfig(
        client_id=station.get("client_id", "gate-station"),
        store=store_path,
        host=mqtt.get("host", "127.0.0.1"), port=port, topic_prefix=prefix,
        keepalive=mqtt.get("keepalive_seconds", 30), protocol=protocol,
        username=mqtt.get("username", ""), password_file=resolve(mqtt.get("password_file", "")),
        shared_group=group, session_expiry_seconds=mqtt.get("session_expiry_seconds", 0),
        tls=TlsConfig(enabled=tls.get("enabled", False), ca_file=resolve(tls.get("ca_file", "")),
                      cert_file=resolve(tls.get("cert_file", "")), key_file=resolve(tls.get("key_file", ""))),
        grace_seconds=float(replay.get("grace_seconds", 2.0)),
        retry_initial_seconds=float(replay.get("retry_initial_seconds", 2.0)),
        retry_max_seconds=float(replay.get("retry_max_seconds", 60.0)),
        max_batch=replay.get("max_batch", 500),
        backfill_new_gates=replay.get("backfill_new_gates", True),
        replay_budget_records_per_second=float(replay.get("budget_records_per_second", 1000.0)),
        result_timeout_seconds=float(commands.get("result_timeout_seconds", 10.0)),
        gate_secrets=gate_secrets,
        receivers=tuple(receivers),
        receivers_outbox=resolve(outbox["outbox"]) if "outbox" in outbox else _default_outbox(store_path, base),
        gate_accounts=gate_accounts, gate_zones=gate_zones, gate_users=gate_users,
        timezone=timezone, web=web, gate_info=gate_info,
        warnings=tuple(warnings),
        supervision_seconds=float(station.get("supervision_seconds", 300.0)), gate_supervision=gate_supervision,
        retain_days=float(station.get("retain_days", 0)), retain_alarm_days=float(station.get("retain_alarm_days", 0)),
    )


def _default_outbox(store: str, base: Path) -> str:
    """The DC-09 outbox beside a file store (`station.db` → `station-dc09.db`); in the config's
    folder when the store is a database URL."""
    if "://" in store:
        return str(base.resolve() / "station-dc09.db")
    p = Path(store)
    return str(p.with_name(p.stem + "-dc09.db"))


def _parse_web(web: dict[str, Any], problems: list[str]) -> WebConfig:
    listen = web.get("listen", "127.0.0.1:8080")
    host, sep, port_text = listen.rpartition(":")
    port = int(port_text) if port_text.isdigit() else -1
    if not sep or not host or not 0 <= port <= 65535:
        problems.append(f"web.listen: must be HOST:PORT, e.g. \"127.0.0.1:8080\", got {listen!r}")
        host, port = "127.0.0.1", 8080
    for key in ("session_hours", "escalate_after_seconds", "snapshot_timeout_seconds"):
        if key in web and web[key] <= 0:
            problems.append(f"web.{key}: must be positive, got {web[key]}")
    return WebConfig(host=host.strip("[]"), port=port, session_hours=float(web.get("session_hours", 12.0)),
                     escalate_after_seconds=float(web.get("escalate_after_seconds", 300.0)),
                     cookie_secure=web.get("cookie_secure", False),
                     snapshot_timeout_seconds=float(web.get("snapshot_timeout_seconds", 3.0)))


def _protocol(value: Any, problems: list[str], warnings: list[str]) -> int:
    """`"5"` / `"3.1.1"` as the gate writes it; the old integers 5 / 4 still accepted."""
    if isinstance(value, int):
        if value in (4, 5):
            spelt = '"5"' if value == 5 else '"3.1.1"'
            warnings.append(f"mqtt.protocol: deprecated spelling {value}; write {spelt} (as the gate does)")
            return value
        problems.append(f'mqtt.protocol: must be "3.1.1" or "5", got {value!r}')
        return 5
    if value in ("5", "3.1.1"):
        return 5 if value == "5" else 4
    problems.append(f'mqtt.protocol: must be "3.1.1" or "5", got {value!r}')
    return 5


def load_station_config(path: str | Path) -> StationConfig:
    """Read and validate a station TOML file. Raises ConfigError (problems prefixed by key path)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read station config: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from None
    return parse_station_config(data, p.resolve().parent)
