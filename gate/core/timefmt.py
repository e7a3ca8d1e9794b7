"""Timestamps as the station expects them: RFC 3339, UTC, milliseconds, trailing Z."""
from __future__ import annotations

from datetime import date, datetime, timezone


def format_ts(moment: datetime) -> str:
    """`2026-11-29T10:00:00.123Z` for an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 date-time into an aware UTC datetime.

    A bare date means its midnight UTC; a naive date-time is taken as UTC.
    Raises ValueError naming the text when it is not a date-time.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not a date-time: {text!r}")
    raw = text.strip()
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
