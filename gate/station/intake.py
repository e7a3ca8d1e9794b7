"""Checking what a gate sends before the station believes or stores any of it.

Everything on `P/G/...` is hostile until checked: `parse_payload` caps the size, decodes UTF-8 JSON
without recursion blowing up, limits nesting depth and keeps every integer inside SQLite's 64-bit
range; `record_verified`/`status_verified` check the gate's MAC (gate.uplink.signing). `GateCounters`
counts per gate and rate-limits the log lines, with a bounded number of gate names (topic levels are
chosen by whoever publishes).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from gate.clock import Clock
from gate.core.errors import InputError
from gate.uplink.signing import RECORD, STATUS, check_seal

MAX_PAYLOAD_BYTES = 256 * 1024  # a journal record is < 3 KiB; a status with many alarms a few KiB
MAX_DEPTH = 16                  # records nest 2-3 levels (args of a command record)
INT_RANGE = (-(2**63), 2**63 - 1)
MAX_GATE_NAMES = 1_000          # distinct gates counted by name; the rest share one counter
OTHER_GATES = "(other gates)"


def parse_payload(raw: bytes) -> Any:
    """The JSON value of a gate's message; InputError naming the problem (size, encoding, syntax,
    depth, an integer outside 64 bits)."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InputError(f"payload of {len(raw)} bytes is larger than {MAX_PAYLOAD_BYTES}")
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4,300 digits
        raise InputError(f"not JSON: {str(exc)[:120]}") from None
    check_tree(value)
    return value


def check_tree(value: Any) -> None:
    """InputError when `value` nests deeper than MAX_DEPTH or holds an integer outside 64 bits.
    Iterative: a hostile value cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    lo, hi = INT_RANGE
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, int) and not isinstance(item, bool) and not lo <= item <= hi:
                raise InputError(f"an integer of {item.bit_length()} bits is outside the 64-bit range")
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def record_verified(record: dict[str, Any], key: bytes | None) -> bool:
    """True when the record's `mac` was made with `key` (None: the station holds no key for the gate)."""
    return key is not None and check_seal(record, key, RECORD)


def status_verified(status: dict[str, Any], key: bytes | None) -> bool:
    return key is not None and check_seal(status, key, STATUS)


class GateCounters:
    """Per-gate counts of one kind of trouble (invalid, unverified, dropped) with a log line per gate
    at most every `interval` seconds; what happened in between is summed into the next line."""

    def __init__(self, clock: Clock, log: logging.Logger, what: str, *, interval: float = 10.0,
                 level: int = logging.WARNING):
        self._clock, self._log, self._what, self._interval, self._level = clock, log, what, interval, level
        self.counts: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self._lock = threading.Lock()  # the network thread counts oversized payloads, the worker the rest

    def _name(self, gate: str) -> str:
        gate = str(gate)[:128]
        return gate if gate in self.counts or len(self.counts) < MAX_GATE_NAMES else OTHER_GATES

    def add(self, gate: str, detail: Callable[[], str] | str, n: int = 1) -> None:
        """Count `n` for `gate`; log `detail` (a string or a callable, built only when logged)."""
        with self._lock:
            name = self._name(gate)
            self.counts[name] = self.counts.get(name, 0) + n
            now = self._clock.monotonic()
            last = self._last.get(name)
            if last is not None and now - last < self._interval:
                self._unlogged[name] = self._unlogged.get(name, 0) + n
                return
            self._last[name] = now
            more = self._unlogged.pop(name, 0)
        text = detail() if callable(detail) else detail
        suffix = f" (and {more} more since the last report)" if more else ""
        self._log.log(self._level, "gate %s: %s: %s%s", name, self._what, text, suffix)

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())
