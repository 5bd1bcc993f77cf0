"""FHIR date/dateTime/instant values as half-open ranges [low, high) (R4 search.html#date).

A value is an implicit range by its precision: `2024` is the whole year, `2024-05-01`
the whole day, `2024-05-01T10:00:00+02:00` that second. Values without a time zone
(dates, and search values with a time but no zone) are read in Danish local time
(Europe/Copenhagen), both when indexing and when searching, so they stay comparable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

try:
    LOCAL_ZONE: tzinfo = ZoneInfo("Europe/Copenhagen")
except Exception:  # pragma: no cover - no tz database installed
    LOCAL_ZONE = UTC

_VALUE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
MIN_INSTANT = datetime(1, 1, 2, tzinfo=UTC)


def _zone(text: str | None) -> tzinfo:
    if text is None:
        return LOCAL_ZONE
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError("time zone offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    if year > 9999:
        return MAX_INSTANT
    return value.replace(year=year, month=month + 1)


def date_range(value: str) -> tuple[datetime, datetime]:
    """[low, high) in UTC for a FHIR date, dateTime or instant; ValueError if malformed."""
    match = _VALUE.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not a FHIR date, dateTime or instant")
    parts = match.groupdict()
    zone = _zone(parts["z"])
    year = int(parts["y"])
    if parts["m"] is None:
        low = datetime(year, 1, 1, tzinfo=zone)
        return _utc(low), _utc(_add_months(low, 12))
    month = int(parts["m"])
    if parts["d"] is None:
        low = datetime(year, month, 1, tzinfo=zone)
        return _utc(low), _utc(_add_months(low, 1))
    day = int(parts["d"])
    if parts["H"] is None:
        low = datetime(year, month, day, tzinfo=zone)
        return _utc(low), _utc(low + timedelta(days=1)) if low.year < 9999 else MAX_INSTANT
    hour, minute = int(parts["H"]), int(parts["M"])
    if parts["S"] is None:
        low = datetime(year, month, day, hour, minute, tzinfo=zone)
        return _utc(low), _utc(low + timedelta(minutes=1))
    second = int(parts["S"])
    fraction = parts["f"]
    if fraction is None:
        low = datetime(year, month, day, hour, minute, second, tzinfo=zone)
        return _utc(low), _utc(low + timedelta(seconds=1))
    micro = int(fraction[:6].ljust(6, "0"))
    step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    low = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    return _utc(low), _utc(low + step)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def approximate(low: datetime, high: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The `ap` range: widened by 10% of the distance from now (R4 recommends 10%)."""
    gap = max(abs(now - low), abs(now - high)) / 10
    gap = max(gap, timedelta(days=1))
    return max(MIN_INSTANT, low - gap) if low - MIN_INSTANT > gap else MIN_INSTANT, (
        high + gap if MAX_INSTANT - high > gap else MAX_INSTANT
    )
