"""The consumer's replay asks: catch-up probes after a (re)connect and gap replays, paced by the
global budget, alarms first, one asking instance per gate (docs/station.md, "Replays and storms").

Runs on the consumer's worker thread only (no locks). Order of one pass:
1. nothing while the inbox holds more than `max_batch` messages: a station that is behind would
   only ask for records it is about to store (and whose duplicates it would then store again);
2. due gates in priority order: gates whose alarms this station had to drop first (the inbox
   counts them per gate; the station cannot know which seqs of a gap are alarms), then the gate
   waiting longest; probes after the due gaps;
3. each ask takes its records from the budget (`ReplayBudget`); an ask the budget cannot pay
   waits, still due, for the next pass, and so does everyone after it (no overtaking, so a big gap
   is not starved by small ones);
4. before publishing, the gate's lease (`replay_lease`): held by a sibling instance, this one
   backs off as though it had asked.
"""
from __future__ import annotations

import logging

from gate.clock import Clock
from gate.station.commands import CommandResult, CommandSender
from gate.station.config import StationConfig
from gate.station.replay_lease import GAP, PROBE, ReplayLease
from gate.station.replay_schedule import ReplayBudget, ReplaySchedule, plan_requests

log = logging.getLogger("gate.station.consumer")
MAX_ALARM_PRIORITY = 10_000  # gates remembered as having lost alarms (bounded against hostile names)


class ReplayAsker:
    """Probe and gap-replay bookkeeping of one consumer. `stats` is the consumer's counters dict."""

    def __init__(self, cfg: StationConfig, clock: Clock, store, sender: CommandSender, *, lease: ReplayLease,
                 stats: dict, inbox_size=lambda: 0):
        self.cfg, self._clock, self.store, self.sender, self.lease = cfg, clock, store, sender, lease
        self.stats = stats
        self._inbox_size = inbox_size
        self.schedule = ReplaySchedule(clock, grace=cfg.grace_seconds, initial=cfg.retry_initial_seconds,
                                       maximum=cfg.retry_max_seconds)
        self.budget = ReplayBudget(clock, rate=cfg.replay_budget_records_per_second,
                                   burst=max(cfg.replay_budget_records_per_second, cfg.max_batch))
        self.alarm_priority: set[str] = set()
        # Catch-up probes: records published while no consumer was subscribed are invisible to gap
        # detection until the gate's next record. So after each (re)connect, ask every gate for a
        # bounded replay of what follows the highest seq we know; a full batch asks again. Once per
        # gate and connection: the gate journals every command, so a probe per status would add records.
        self._probe: dict[str, int | None] = {}  # gate -> to_seq of the probe in flight, None: due
        self._probed: set[str] = set()  # gates probed since the last (re)connect
        self._probe_cmds: dict[str, str] = {}  # cmd_id -> gate
        self._reprobe = False

    # -- what the consumer tells us --------------------------------------------------------------
    def reconnected(self) -> None:
        self._reprobe = True

    def alarms_dropped(self, gate: str) -> None:
        """This station dropped alarms of `gate` (inbox full): its gaps go first."""
        if gate in self.alarm_priority or len(self.alarm_priority) < MAX_ALARM_PRIORITY:
            self.alarm_priority.add(gate)

    def observe(self, gate: str) -> None:
        state = self.store.gate_state(gate)
        if state is not None and max(state.max_seq, state.reported_last_seq) <= state.contiguous:
            self.schedule.observe(gate, 0)  # the common case, one cheap query: nothing missing
            self.alarm_priority.discard(gate)
            return
        self.schedule.observe(gate, sum(g.size for g in self.store.gaps(gate)))

    def stored(self, gate: str) -> None:
        """Records of `gate` were stored: update its gap and re-open a probe that came back full."""
        self.observe(gate)
        probe_to = self._probe.get(gate)
        if probe_to is not None and self.top(gate) >= probe_to:
            self._probe[gate] = None  # the probe came back full: there may be more

    def status_seen(self, gate: str, online: bool, verified: bool) -> None:
        """A gate first seen on this connection is probed; a later status (lockdown, fault, the gate's
        reconnect) is not: its last_seq and the gate's own backlog delivery reveal any gap."""
        self.observe(gate)
        if verified and online and gate not in self._probed:
            self._probed.add(gate)
            self._probe.setdefault(gate, None)

    def result(self, gate: str, result: CommandResult) -> None:
        """A verified result from `gate`: if it answers our probe of that gate, see whether it goes on."""
        if self._probe_cmds.get(result.cmd_id) == gate:
            self._probe_done(self._probe_cmds.pop(result.cmd_id), result)

    def top(self, gate: str) -> int:
        state = self.store.gate_state(gate)
        return 0 if state is None else max(state.max_seq, state.reported_last_seq)

    def _probe_done(self, gate: str, result: CommandResult) -> None:
        """The gate answered a catch-up probe. Its answer names the range it republishes (`to_seq`
        clipped to its last seq; below `from_seq` when there is nothing after what we hold). A full
        batch keeps the probe open: once those records are stored, `stored` probes again."""
        probe_to = self._probe.get(gate)
        if probe_to is None or self.top(gate) >= probe_to:
            return
        coming_to = result.payload.get("to_seq")
        if result.ok and isinstance(coming_to, int) and not isinstance(coming_to, bool) and coming_to >= probe_to:
            return
        del self._probe[gate]

    # -- asking ----------------------------------------------------------------------------------
    def run(self) -> None:
        """One pass (the consumer calls it after every batch, only while connected)."""
        if self._reprobe:
            self._reprobe = False
            # Only gates we hold a key for can be asked (and their answers verified).
            self._probe = {g.gate: None for g in self.store.gate_states() if g.gate in self.cfg.gate_secrets}
            self._probed = set(self._probe)
        if self._inbox_size() > self.cfg.max_batch:
            return
        if self._ask_gaps():
            self._ask_probes()

    def _order(self, gates: list[str]) -> list[str]:
        return sorted(gates, key=lambda g: (g not in self.alarm_priority, self.schedule.next_due(g) or 0.0, g))

    def _ask_gaps(self) -> bool:
        """Ask the due gates; False when the budget ran out (the rest wait for the next pass)."""
        for gate in self._order(self.schedule.due()):
            gaps = self.store.gaps(gate)  # fresh: a sibling sharing the store may have filled them
            self.schedule.observe(gate, sum(g.size for g in gaps))
            if not gaps:
                continue
            plan = plan_requests(gaps, self.cfg.max_batch)
            cost = sum(to - fr + 1 for fr, to in plan)
            if self.budget.available < cost:
                return False
            # The lease outlasts our next ask (after `delay`) by one more delay and the grace, so a
            # live holder always renews it in time; a dead one's runs out at most that late.
            if not self.lease.take(gate, GAP, 2 * self.schedule.delay(gate) + self.cfg.grace_seconds):
                self.stats["replays_left_to_sibling"] += 1
                self.schedule.asked(gate)
                continue
            self.budget.take(cost)
            self.stats["asked_records"] += cost
            for from_seq, to_seq in plan:
                if not self._publish(gate, from_seq, to_seq, "replay"):
                    break
            self.schedule.asked(gate)
        return True

    def _ask_probes(self) -> None:
        for gate in [g for g, to in self._probe.items() if to is None]:
            top = self.top(gate)
            state = self.store.gate_state(gate)
            # A probe costs what the gate's status says it holds beyond ours (often nothing).
            expected = min(self.cfg.max_batch, max(1, (state.reported_last_seq if state else 0) - top))
            if self.budget.available < expected:
                return
            if not self.lease.take(gate, PROBE, 2 * self.cfg.retry_initial_seconds + self.cfg.grace_seconds):
                self.stats["replays_left_to_sibling"] += 1
                del self._probe[gate]  # a sibling is probing this gate right now
                continue
            self.budget.take(expected)
            self.stats["asked_records"] += expected
            cmd_id = self._publish(gate, top + 1, top + self.cfg.max_batch, "probe")
            if cmd_id is None:
                del self._probe[gate]
                continue
            self._probe[gate] = top + self.cfg.max_batch
            self._probe_cmds[cmd_id] = gate

    def _publish(self, gate: str, from_seq: int, to_seq: int, what: str) -> str | None:
        try:
            cmd = self.sender.publish(gate, "replay", {"from_seq": from_seq, "to_seq": to_seq}, track=False)
        except (OSError, ValueError) as exc:  # no secret file, unreadable secret
            log.error("cannot ask gate %s for %s %d-%d: %s", gate, what, from_seq, to_seq, exc)
            return None
        self.store.note_replay(gate, from_seq, to_seq, cmd["cmd_id"])
        self.stats["replays"] += 1
        if what == "replay":
            self.stats["gap_asks"] += 1
            log.info("asked gate %s to replay %d-%d (%s)", gate, from_seq, to_seq, cmd["cmd_id"])
        return cmd["cmd_id"]
