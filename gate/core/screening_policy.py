"""Fever policy: a screening Measurement → what the gate does. Pure.

Rules, in order:
- mode "off": always pass, no temperature recorded.
- "pending": wait (re-assess on the next sample or at the deadline).
- a reading at or above `fever_threshold_c`: "enforce" refuses (reason fever, fever alarm, guard
  signalled); "log-only" passes but still raises the fever alarm.
- a reading below it: pass, with the temperature the access was granted with.
- no_person / too_cold / implausible before the deadline: retest (the resident is asked to look
  at the sensor again); at the deadline they become screening_unavailable.
- a fault, or no valid reading by the deadline: screening_unavailable. Never a normal reading.
  `unavailable="refuse"` (default) refuses; "grant" passes with the reason recorded. In "enforce"
  the guard is signalled either way; "log-only" never changes what happens at the gate.
"""
from __future__ import annotations

from dataclasses import dataclass

from gate.core.screening import Measurement, ScreeningSettings

MODES = ("enforce", "log-only", "off")
UNAVAILABLE_POLICIES = ("refuse", "grant")
OUTCOMES = ("pass", "refuse", "retest", "wait")
FEVER_THRESHOLD_RANGE = (35.0, 42.0)   # the same bounds as the config schema


@dataclass(frozen=True)
class Verdict:
    """The screening's say in an access decision.

    `outcome`: "pass", "refuse", "retest" (show the retest signal, keep waiting) or "wait".
    `reason`: None, "fever" or "screening_unavailable"; on a refusal it is the refusal reason, on a
    pass it records what was overridden (log-only fever, granted while unavailable).
    `alarm`: None or "fever" (with `temperature_c`). `signal_guard`: alert the guard on site.
    """

    outcome: str
    reason: str | None = None
    alarm: str | None = None
    temperature_c: float | None = None
    signal_guard: bool = False
    detail: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome in ("pass", "refuse")


@dataclass(frozen=True)
class ScreeningPolicy:
    """Mode, fever threshold and what to do when screening is unavailable ([screening] config)."""

    mode: str = "enforce"
    fever_threshold_c: float = 37.3
    unavailable: str = "refuse"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(problems))

    def problems(self) -> list[str]:
        out = []
        if self.mode not in MODES:
            out.append(f"screening.mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        low, high = FEVER_THRESHOLD_RANGE
        t = self.fever_threshold_c
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not low <= t <= high:
            out.append(f"screening.fever_threshold_c: must be between {low} and {high}, got {t!r}")
        if self.unavailable not in UNAVAILABLE_POLICIES:
            out.append(f"screening.unavailable_policy: must be one of {', '.join(UNAVAILABLE_POLICIES)}, "
                       f"got {self.unavailable!r}")
        return out

    def judge(self, m: Measurement) -> Verdict:
        if self.mode == "off":
            return Verdict("pass", detail="screening off")
        if m.kind == "pending":
            return Verdict("wait", detail=m.detail)
        enforce = self.mode == "enforce"
        if m.kind == "reading" and m.temperature_c is not None:
            t = m.temperature_c
            if t >= self.fever_threshold_c:
                return Verdict("refuse" if enforce else "pass", reason="fever", alarm="fever",
                               temperature_c=t, signal_guard=enforce,
                               detail=f"{t:.2f} °C at or above {self.fever_threshold_c} °C")
            return Verdict("pass", temperature_c=t, detail=m.detail)
        if m.kind in ("no_person", "too_cold", "implausible") and not m.final:
            return Verdict("retest", detail=m.detail)
        # fault, or no valid reading by the deadline (and any kind this module does not know).
        refuse = enforce and self.unavailable == "refuse"
        return Verdict("refuse" if refuse else "pass", reason="screening_unavailable",
                       signal_guard=enforce, detail=f"{m.kind}: {m.detail or 'no valid reading'}")


def consistency_problems(settings: ScreeningSettings, policy: ScreeningPolicy) -> list[str]:
    """Cross-checks between the two: a threshold outside the plausible range can never trigger."""
    t = policy.fever_threshold_c
    if not settings.plausible_min_c <= t <= settings.plausible_max_c:
        return [f"screening.fever_threshold_c: must lie inside the plausible range "
                f"{settings.plausible_min_c}..{settings.plausible_max_c}, got {t}"]
    return []
