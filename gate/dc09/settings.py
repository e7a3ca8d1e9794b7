"""`[[receivers]]` entries (interface.md §6.2) checked and turned into ReceiverSettings, for the
station's config and the gate's alike. Every problem is reported with its key path
(`receivers[0].port: ...`), all at once, like the rest of the configuration."""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Mapping

from gate.core.errors import InputError
from gate.dc09.events import FORMATS
from gate.dc09.frame import check_account, check_key, check_prefix
from gate.dc09.link import ReceiverSettings

NUMBER = (int, float)
KEYS: dict[str, Any] = {
    "protocol": str, "name": str, "host": str, "port": int, "backups": (list, tuple), "account": str, "key_file": str,
    "format": str, "receiver_number": str, "line": str, "supervision_seconds": NUMBER,
    "ack_timeout_seconds": NUMBER, "retry_initial_seconds": NUMBER, "retry_max_seconds": NUMBER,
    "retries_per_address": int, "max_age_seconds": NUMBER,
}
_ADDRESS = re.compile(r"^(?P<host>[^\s:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def parse_address(text: str) -> tuple[str, int]:
    m = _ADDRESS.match(str(text))
    if not m or not 1 <= int(m["port"]) <= 65535:
        raise InputError(f"{text!r}: expected HOST:PORT")
    return m["host"].strip("[]"), int(m["port"])


def _typed(entry: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in KEYS:
            hint = difflib.get_close_matches(key, list(KEYS), n=1)
            problems.append(f"{where}.{key}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        expected = KEYS[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            name = {NUMBER: "number", (list, tuple): "list", str: "string", int: "integer"}[expected]
            problems.append(f"{where}.{key}: must be a {name}, got {value!r}")
            continue
        out[key] = value
    return out


def receiver_settings(entries: Any, base_dir: Path, problems: list[str], *, prefix: str = "receivers",
                      account_required: bool = True, read_keys: bool = True) -> list[ReceiverSettings]:
    """ReceiverSettings for each entry; problems appended (nothing returned for a bad entry)."""
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        problems.append(f"{prefix}: must be an array of tables ([[{prefix}]])")
        return []
    out: list[ReceiverSettings] = []
    names: set[str] = set()
    for i, raw in enumerate(entries):
        where = f"{prefix}[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        before = len(problems)
        e = _typed(raw, where, problems)
        if e.get("protocol", "dc09") != "dc09":
            problems.append(f"{where}.protocol: only \"dc09\" (SIA DC-09 over TCP) is supported, got {e['protocol']!r}")
        port = e.get("port", 7000)
        if not 1 <= port <= 65535:
            problems.append(f"{where}.port: must be between 1 and 65535, got {port}")
        host = e.get("host", "127.0.0.1")
        if not host:
            problems.append(f"{where}.host: must not be empty")
        addresses = [(host, port)]
        for j, b in enumerate(e.get("backups", [])):
            try:
                addresses.append(parse_address(b))
            except InputError as exc:
                problems.append(f"{where}.backups[{j}]: {exc}")
        account = e.get("account", "")
        if account:
            try:
                account = check_account(account)
            except InputError as exc:
                problems.append(f"{where}.account: {exc}")
        elif account_required:
            problems.append(f"{where}.account: required (3 to 16 hex characters, as the receiver knows this premises)")
        fmt = e.get("format", "ADM-CID").upper()
        if fmt not in FORMATS:
            problems.append(f"{where}.format: must be one of {', '.join(FORMATS)}, got {e['format']!r}")
        for key in ("receiver_number", "line"):
            try:
                e[key] = check_prefix(key, e.get(key, "0"))
            except InputError as exc:
                problems.append(f"{where}.{key}: {exc}")
        for key, lo in (("supervision_seconds", 0), ("ack_timeout_seconds", 0.1), ("retry_initial_seconds", 0.01),
                        ("retry_max_seconds", 0.01), ("max_age_seconds", 0), ("retries_per_address", 1)):
            if key in e and e[key] < lo:
                problems.append(f"{where}.{key}: must be at least {lo}, got {e[key]}")
        if e.get("retry_initial_seconds", 1.0) > e.get("retry_max_seconds", 60.0):
            problems.append(f"{where}.retry_max_seconds: must be at least retry_initial_seconds")
        key = None
        if e.get("key_file") and read_keys:
            path = Path(e["key_file"]).expanduser()
            path = path if path.is_absolute() else (base_dir / path).resolve()
            try:
                key = check_key(path.read_bytes())
            except OSError as exc:
                problems.append(f"{where}.key_file: cannot read {path}: {exc.strerror or exc}")
            except InputError as exc:
                problems.append(f"{where}.key_file: {path}: {exc}")
        name = e.get("name") or f"{host}:{port}"
        if name in names:
            problems.append(f"{where}.name: {name!r} is used by another receiver (each needs its own name)")
        names.add(name)
        if len(problems) > before:
            continue
        out.append(ReceiverSettings(
            name=name, addresses=tuple(addresses), account=account, key=key, format=fmt,
            receiver_number=e["receiver_number"], line=e["line"],
            supervision_seconds=float(e.get("supervision_seconds", 60.0)),
            ack_timeout_seconds=float(e.get("ack_timeout_seconds", 10.0)),
            retry_initial_seconds=float(e.get("retry_initial_seconds", 1.0)),
            retry_max_seconds=float(e.get("retry_max_seconds", 60.0)),
            retries_per_address=int(e.get("retries_per_address", 3)),
            max_age_seconds=float(e.get("max_age_seconds", 86_400.0)),
        ))
    return out


def number_table(value: Any, where: str, problems: list[str]) -> dict[str, int]:
    """A `zones` / `users` table: names to numbers 0-999."""
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a table of NAME = NUMBER")
        return {}
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 999:
            problems.append(f"{where}.{k}: must be a number 0-999, got {v!r}")
        else:
            out[str(k)] = v
    return out
