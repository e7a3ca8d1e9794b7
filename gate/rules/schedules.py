"""Weekly time windows for pass types, in the gate's local time zone.

A window is written `DAYS HH:MM-HH:MM`, e.g. `mon-fri 07:00-19:00`, `sat,sun 09:00-12:00`,
`daily 22:00-06:00`. DAYS is `daily`, one day (`mon`), a range (`fri-mon`, wrapping the week) or a
comma list of those. The start is inclusive, the end exclusive; an end at or before the start means
the window runs past midnight into the next day (`fri 22:00-06:00` ends Saturday 06:00), and
`24:00` is allowed as an end. An empty schedule means "at any time".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 86400
_WINDOW = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


def _clock(text: str, what: str, allow_24: bool) -> int:
    hh, mm = (int(x) for x in text.split(":"))
    if mm > 59 or hh > 24 or (hh == 24 and (mm or not allow_24)):
        raise ValueError(f"{what} {text!r} is not a time of day (00:00-23:59{', or 24:00' if allow_24 else ''})")
    return hh * 3600 + mm * 60


def _days(text: str) -> list[int]:
    if text == "daily":
        return list(range(7))
    out: list[int] = []
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ValueError(f"days {text!r}: use daily, mon..sun, a range like mon-fri, or a comma list")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        out += [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    return sorted(set(out))


@dataclass(frozen=True)
class WeeklySchedule:
    """A set of weekly windows, held as [start, end) second-of-week intervals (Monday 00:00 = 0)."""

    intervals: tuple[tuple[int, int], ...] = ()
    source: tuple[str, ...] = ()

    @classmethod
    def parse(cls, windows: list[str] | tuple[str, ...]) -> "WeeklySchedule":
        """Parse window strings; ValueError names the bad window."""
        intervals: list[tuple[int, int]] = []
        for raw in windows:
            m = _WINDOW.match(raw.lower()) if isinstance(raw, str) else None
            if not m:
                raise ValueError(f"window {raw!r}: expected 'DAYS HH:MM-HH:MM', e.g. 'mon-fri 07:00-19:00'")
            try:
                start = _clock(m["start"], "start", allow_24=False)
                end = _clock(m["end"], "end", allow_24=True)
                days = _days(m["days"])
            except ValueError as exc:
                raise ValueError(f"window {raw!r}: {exc}") from None
            length = end - start if end > start else end + 86400 - start
            for day in days:
                begin = day * 86400 + start
                if begin + length <= WEEK:
                    intervals.append((begin, begin + length))
                else:  # Sunday night into Monday morning: split at the week's end
                    intervals += [(begin, WEEK), (0, begin + length - WEEK)]
        return cls(tuple(sorted(intervals)), tuple(windows))

    @property
    def always(self) -> bool:
        return not self.intervals

    def allows(self, moment: datetime, tz: tzinfo) -> bool:
        """Is the aware `moment` inside a window, read as local time in `tz`?"""
        if not self.intervals:
            return True
        local = moment.astimezone(tz)
        second = local.weekday() * 86400 + local.hour * 3600 + local.minute * 60 + local.second
        return any(start <= second < end for start, end in self.intervals)
