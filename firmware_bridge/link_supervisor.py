"""Link supervision for one OSDP peripheral: pure logic, times passed in as monotonic floats.

Why our own supervisor on top of libosdp's: libosdp 3.2.9 needs ~8.4 s of unanswered probes before it
calls a peripheral offline, and then waits 300 s before it tries again. A gate must raise
`device_fault` within 10 s and notice the peripheral's return within seconds. So:

- the link is *healthy* while libosdp reports the PD online (secure channel up when enforced) and
  bytes arrived on the line within the last `silence_s`;
- it is declared *offline* `offline_after_s` after the last byte heard while libosdp had the PD online
  (or after start-up, if it never came up), and *online* again the moment it is healthy;
- while libosdp says offline, the caller should *kick* it (disable + enable the PD, which restarts the
  connection sequence at once) every `retry_s` instead of waiting out libosdp's 300 s back-off.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkDecision:
    """What one observation asks of the caller: report a change (`changed` is the new state) and/or
    restart libosdp's connection sequence (`kick`)."""

    changed: bool | None = None
    kick: bool = False


class LinkSupervisor:
    """Decides online/offline for one peripheral from periodic observations."""

    def __init__(self, offline_after_s: float = 8.0, *, silence_s: float = 1.0, retry_s: float = 2.0):
        if offline_after_s <= 0 or silence_s <= 0 or retry_s <= 0:
            raise ValueError("link supervisor: offline_after_s, silence_s and retry_s must be > 0")
        self.offline_after_s = offline_after_s
        self.silence_s = min(silence_s, offline_after_s)
        self.retry_s = retry_s
        self.online: bool | None = None  # None until first decided
        self._started: float | None = None
        self._last_good: float | None = None
        self._pd_offline_since: float | None = None
        self._last_kick: float | None = None

    def observe(self, now: float, *, pd_online: bool, last_rx: float | None) -> LinkDecision:
        """One look at the link: libosdp's view of the PD and the time of the last received byte."""
        if self._started is None:
            self._started = now
        if pd_online and last_rx is not None:
            # the last sign of life is the last byte heard while libosdp had the PD online
            self._last_good = max(self._last_good or last_rx, last_rx)
        healthy = pd_online and last_rx is not None and now - last_rx < self.silence_s
        changed: bool | None = None
        if healthy:
            if self.online is not True:
                self.online = changed = True
        else:
            since = self._last_good if self._last_good is not None else self._started
            if now - since >= self.offline_after_s and self.online is not False:
                self.online = changed = False
        return LinkDecision(changed=changed, kick=self._should_kick(now, pd_online))

    def next_check_in(self) -> float:
        """How often the caller should observe so that every deadline is met with margin."""
        return min(0.25, self.silence_s / 2, self.offline_after_s / 8)

    def _should_kick(self, now: float, pd_online: bool) -> bool:
        if pd_online:
            self._pd_offline_since = None
            return False
        if self._pd_offline_since is None:
            self._pd_offline_since = now
        if now - self._pd_offline_since < self.retry_s:
            return False  # give libosdp's own connection attempt its chance first
        if self._last_kick is not None and now - self._last_kick < self.retry_s:
            return False
        self._last_kick = now
        return True
