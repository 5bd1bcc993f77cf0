"""FHIR instants: UTC with millisecond precision (R4 datatypes.html#instant)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime


def now_utc() -> datetime:
    return truncate_to_millis(datetime.now(UTC))


def truncate_to_millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_instant(value: datetime) -> str:
    """`2024-05-01T10:15:30.123Z`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_http_date(value: datetime) -> str:
    """RFC 7231 IMF-fixdate, for Last-Modified."""
    return format_datetime(value.astimezone(UTC), usegmt=True)


def parse_instant(value: str) -> datetime:
    """Parse an ISO 8601 instant with a zone; raises ValueError otherwise."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("an instant needs a time zone")
    return parsed.astimezone(UTC)
