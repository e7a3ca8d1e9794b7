"""The station consumer's inbox: bounded in messages and bytes, fair between gates, alarms first.

paho's network thread puts every message here; the consumer's worker takes batches. A flooding gate
(or anyone writing under one gate's topics) fills only its own share: each gate may hold at most
`per_gate_messages` / `per_gate_bytes`, and all gates together `total_messages` / `total_bytes`.
Batches are taken round-robin across gates, alarms of every gate before anything else, so one gate's
backlog never delays another gate's alarm.

When a limit is reached, something is dropped and counted per gate (`take_drops()`), never an alarm
while anything else can go: an incoming alarm first evicts the newest non-alarm message of its own
gate, then of the gate holding the most; an alarm is dropped only when alarms alone fill the limit.
Dropped records are not lost for good: the gate's journal keeps them, and the consumer's gap replay
fetches them once the gate's sequence shows the hole.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

ALARM, OTHER = "alarm", "other"
OTHER_GATE = "(other gates)"  # drop counters beyond `max_counted_gates` names go here


@dataclass
class _GateQueue:
    alarms: deque = field(default_factory=deque)
    others: deque = field(default_factory=deque)
    messages: int = 0
    nbytes: int = 0


class Inbox:
    """Thread-safe; `put` from any thread, `get_batch` / `task_done` from the worker."""

    def __init__(self, *, per_gate_messages: int = 5_000, per_gate_bytes: int = 16 << 20,
                 total_messages: int = 100_000, total_bytes: int = 128 << 20, max_counted_gates: int = 10_000):
        self.per_gate_messages, self.per_gate_bytes = per_gate_messages, per_gate_bytes
        self.total_messages, self.total_bytes = total_messages, total_bytes
        self._max_counted = max_counted_gates
        self._cond = threading.Condition()
        self._gates: dict[str, _GateQueue] = {}
        self._messages = self._bytes = 0
        self._unfinished = 0
        self._drops: dict[str, dict[str, int]] = {}  # gate -> {"alarm": n, "other": n}, since take_drops

    # -- producer side -----------------------------------------------------------------------------
    def put(self, gate: str, kind: str, topic: str, payload: bytes) -> bool:
        """Queue one message of `gate` (`kind` ALARM or OTHER). False when it was dropped itself."""
        size = len(payload) + len(topic)
        with self._cond:
            q = self._gates.get(gate)
            if q is None:
                q = self._gates[gate] = _GateQueue()
            while not self._room(q, size):
                if kind != ALARM or not self._evict_for_alarm(q):
                    self._count_drop(gate, kind)
                    if not q.messages:
                        del self._gates[gate]
                    return False
            (q.alarms if kind == ALARM else q.others).append((topic, payload, size))
            q.messages += 1
            q.nbytes += size
            self._messages += 1
            self._bytes += size
            self._unfinished += 1
            self._cond.notify()
        return True

    def _room(self, q: _GateQueue, size: int) -> bool:
        return (q.messages < self.per_gate_messages and q.nbytes + size <= self.per_gate_bytes
                and self._messages < self.total_messages and self._bytes + size <= self.total_bytes)

    def _evict_for_alarm(self, q: _GateQueue) -> bool:
        """Drop one non-alarm message to make room for an alarm: the gate's own first, else (when
        the total is the limit) the fullest gate's. False when there is none to drop."""
        own_full = q.messages >= self.per_gate_messages or q.nbytes >= self.per_gate_bytes
        if q.others:
            victim = q
        elif own_full:
            return False
        else:
            holders = [g for g in self._gates.values() if g.others]
            if not holders:
                return False
            victim = max(holders, key=lambda g: g.nbytes)
        name = next(n for n, g in self._gates.items() if g is victim)
        _, _, size = victim.others.pop()  # the newest: older messages are nearer to being processed
        victim.messages -= 1
        victim.nbytes -= size
        self._messages -= 1
        self._bytes -= size
        self._unfinished -= 1
        self._count_drop(name, OTHER)
        if not victim.messages and victim is not q:
            del self._gates[name]
        return True

    def _count_drop(self, gate: str, kind: str) -> None:
        if gate not in self._drops and len(self._drops) >= self._max_counted:
            gate = OTHER_GATE
        counts = self._drops.setdefault(gate, {ALARM: 0, OTHER: 0})
        counts[kind] += 1

    # -- consumer side -----------------------------------------------------------------------------
    def get_batch(self, max_items: int, timeout: float) -> list[tuple[str, bytes]]:
        """Up to `max_items` (topic, payload), waiting up to `timeout` for the first: every gate's
        alarms round-robin first, then the other messages round-robin, each gate's in arrival order."""
        with self._cond:
            if not self._messages:
                self._cond.wait(timeout)
            out: list[tuple[str, bytes]] = []
            for attr in ("alarms", "others"):
                while len(out) < max_items:
                    took = False
                    for name in list(self._gates):
                        q = self._gates[name]
                        items = getattr(q, attr)
                        if not items:
                            continue
                        topic, payload, size = items.popleft()
                        q.messages -= 1
                        q.nbytes -= size
                        self._messages -= 1
                        self._bytes -= size
                        out.append((topic, payload))
                        took = True
                        if not q.messages:
                            del self._gates[name]
                        if len(out) >= max_items:
                            break
                    if not took:
                        break
            return out

    def task_done(self, n: int = 1) -> None:
        with self._cond:
            self._unfinished -= n

    @property
    def unfinished(self) -> int:
        """Messages queued or taken and not yet marked done."""
        with self._cond:
            return self._unfinished

    @property
    def size(self) -> tuple[int, int]:
        """(messages, bytes) queued now."""
        with self._cond:
            return self._messages, self._bytes

    def take_drops(self) -> dict[str, dict[str, int]]:
        """Drop counts per gate since the last call ({gate: {"alarm": n, "other": n}})."""
        with self._cond:
            drops, self._drops = self._drops, {}
        return drops
