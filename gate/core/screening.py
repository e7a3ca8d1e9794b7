"""Temperature screening core: thermometer samples around a tap → one Measurement. Pure.

No I/O and no clock of its own: samples and faults arrive stamped with monotonic seconds and
`assess` is told the tap time and the current time. The runtime passes a lock (the sampler thread
adds samples while the daemon thread assesses); the core itself starts no thread.

A sample is classified on its own:
  no_person    object not `presence_margin_c` above ambient, or below the skin range
               (the sensor sees the wall, or a forehead it cannot tell from warm air)
  implausible  object above the skin range, or body estimate above `plausible_max_c` (a hot cup)
  too_cold     body estimate (object + `offset_c`) below `plausible_min_c` (cold forehead, too far)
  valid        otherwise
A measurement is the median body estimate of the valid samples inside the window
[tap - window_before_s, tap + window_after_s], decided as soon as `min_samples` valid ones exist.
Any sensor fault overlapping the window makes the whole measurement a fault: samples taken just
before a fault was declared are not trusted either.
"""
from __future__ import annotations

import contextlib
import statistics
from collections import Counter, deque
from dataclasses import dataclass, fields

KINDS = ("reading", "no_person", "too_cold", "implausible", "fault", "pending")
VALID = "valid"
RETAIN_EXTRA_S = 10.0      # keep history a little longer than a window, for late assessments
MAX_SAMPLES = 4096         # hard bound whatever the clock does


@dataclass(frozen=True)
class ScreeningSettings:
    """Tunables of the screening core ([screening] in the config). Raises ValueError listing every
    problem, one `screening.key: message` line each."""

    window_before_s: float = 0.0      # samples this long before the tap count (0: the previous resident never counts)
    window_after_s: float = 4.0       # the deadline: how long after the tap a reading may take
    min_samples: int = 3              # valid samples needed for a median
    presence_margin_c: float = 2.0    # object must exceed ambient by this much to be a person
    skin_min_c: float = 25.0          # raw object reading range a forehead can have
    skin_max_c: float = 45.0
    plausible_min_c: float = 35.0     # body estimate range we accept as a measurement
    plausible_max_c: float = 42.5
    offset_c: float = 0.0             # forehead (sensor) → body temperature, from calibration

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(problems))

    def problems(self) -> list[str]:
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            want = int if f.name == "min_samples" else (int, float)
            if isinstance(value, bool) or not isinstance(value, want):
                out.append(f"screening.{f.name}: must be a {'whole ' if want is int else ''}number, got {value!r}")
        if out:
            return out

        def between(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if not low <= value <= high:
                out.append(f"screening.{name}: must be between {low} and {high}, got {value}")

        between("window_before_s", 0.0, 10.0)
        between("window_after_s", 0.5, 30.0)
        between("min_samples", 1, 50)
        between("presence_margin_c", 0.5, 10.0)
        between("offset_c", -5.0, 5.0)
        if not self.skin_min_c < self.skin_max_c:
            out.append(f"screening.skin_min_c: must be below skin_max_c ({self.skin_max_c}), got {self.skin_min_c}")
        if not self.plausible_min_c < self.plausible_max_c:
            out.append(f"screening.plausible_min_c: must be below plausible_max_c ({self.plausible_max_c}), "
                       f"got {self.plausible_min_c}")
        return out


@dataclass(frozen=True)
class Measurement:
    """What the sensor says about the person who tapped.

    `kind` is one of KINDS. `temperature_c` (kind "reading" only) is the median body estimate.
    `final` is False while the deadline has not passed and the answer may still change (pending,
    or no good reading *yet*). `samples`/`valid` count the window's samples; `detail` explains.
    """

    kind: str
    temperature_c: float | None = None
    final: bool = True
    samples: int = 0
    valid: int = 0
    ambient_c: float | None = None
    detail: str | None = None


def classify(object_c: float, ambient_c: float, settings: ScreeningSettings) -> str:
    """One sample's class: "valid", "no_person", "too_cold" or "implausible"."""
    s = settings
    if object_c - ambient_c < s.presence_margin_c or object_c < s.skin_min_c:
        return "no_person"
    body = object_c + s.offset_c
    if object_c > s.skin_max_c or body > s.plausible_max_c:
        return "implausible"
    if body < s.plausible_min_c:
        return "too_cold"
    return VALID


@dataclass
class _FaultSpan:
    start: float
    detail: str
    end: float | None = None     # the first good sample after the fault


class Screening:
    """Keeps recent samples and fault spans; `assess` turns the window around a tap into a Measurement."""

    def __init__(self, settings: ScreeningSettings | None = None, *, lock=None):
        self._s = settings or ScreeningSettings()
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=MAX_SAMPLES)
        self._faults: list[_FaultSpan] = []

    @property
    def settings(self) -> ScreeningSettings:
        return self._s

    def deadline(self, tap_mono: float) -> float:
        """When a tap's measurement becomes final whatever the samples say."""
        return tap_mono + self._s.window_after_s

    def add_sample(self, object_c: float, ambient_c: float, mono: float) -> None:
        """A verified reading. It also ends an open fault span: the sensor is reading again."""
        with self._lock:
            self._samples.append((mono, float(object_c), float(ambient_c)))
            if self._faults and self._faults[-1].end is None:
                self._faults[-1].end = mono
            self._prune(mono)

    def add_fault(self, detail: str, mono: float) -> None:
        """The sensor became faulty at `mono` (open until the next sample)."""
        with self._lock:
            if not self._faults or self._faults[-1].end is not None:
                self._faults.append(_FaultSpan(mono, detail))
            self._prune(mono)

    @property
    def is_faulted(self) -> bool:
        with self._lock:
            return bool(self._faults) and self._faults[-1].end is None

    def assess(self, tap_mono: float, now_mono: float) -> Measurement:
        """The measurement for a tap at `tap_mono`, as known at `now_mono`."""
        s = self._s
        start, deadline = tap_mono - s.window_before_s, self.deadline(tap_mono)
        end = min(now_mono, deadline)
        final = now_mono >= deadline
        with self._lock:
            fault = next((f for f in self._faults
                          if f.start <= end and (f.end is None or f.end >= start)), None)
            window = [(o, a) for (m, o, a) in self._samples if start <= m <= end]
        if fault is not None:
            return Measurement("fault", final=True, samples=len(window),
                               detail=f"sensor fault during the measurement: {fault.detail}")
        classes = [classify(o, a, s) for o, a in window]
        valid = [o + s.offset_c for (o, _), c in zip(window, classes) if c == VALID]
        ambient = round(statistics.median(a for _, a in window), 2) if window else None
        if len(valid) >= s.min_samples:
            return Measurement("reading", round(statistics.median(valid), 2), final=True,
                               samples=len(window), valid=len(valid), ambient_c=ambient,
                               detail=f"median of {len(valid)} samples")
        counts = Counter(classes)
        summary = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "none"
        if len(window) < s.min_samples:
            if not final:
                return Measurement("pending", final=False, samples=len(window), valid=len(valid),
                                   ambient_c=ambient, detail=f"{len(window)} samples so far")
            # The sensor should have produced many samples by now: a silent sampler is a fault,
            # not "nobody in front".
            return Measurement("fault", final=True, samples=len(window), valid=len(valid), ambient_c=ambient,
                               detail=f"only {len(window)} thermometer samples in the window "
                                      f"(needed {s.min_samples}): sampler stalled?")
        invalid = Counter({c: n for c, n in counts.items() if c not in (VALID, "no_person")})
        kind = invalid.most_common(1)[0][0] if invalid else "no_person"
        when = "by the deadline" if final else "yet"
        return Measurement(kind, final=final, samples=len(window), valid=len(valid), ambient_c=ambient,
                           detail=f"no valid reading {when} ({len(valid)} valid of {s.min_samples} "
                                  f"needed; samples: {summary})")

    def _prune(self, newest: float) -> None:
        horizon = newest - (self._s.window_before_s + self._s.window_after_s + RETAIN_EXTRA_S)
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        self._faults = [f for f in self._faults if f.end is None or f.end >= horizon]


def rate_problems(settings: ScreeningSettings, sample_hz: float,
                  key: str = "hardware.thermometer.sample_hz") -> list[str]:
    """The sample rate must give the window room for `min_samples` with slack (twice as many),
    or every tap would end as a stalled-sensor fault."""
    expected = sample_hz * (settings.window_before_s + settings.window_after_s)
    if expected < 2 * settings.min_samples:
        return [f"{key}: {sample_hz} samples/s gives only {expected:.1f} samples in the "
                f"{settings.window_before_s + settings.window_after_s} s screening window; "
                f"need at least {2 * settings.min_samples} (2 × screening.min_samples)"]
    return []
