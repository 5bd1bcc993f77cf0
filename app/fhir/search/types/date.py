"""Date: prefixed values against ranges (R4 search.html#date, #prefix). Both sides are
half-open ranges [low, high) by precision (dates.py); a Period or Timing is one range,
open where its start or end is missing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from app.fhir.instant import now_utc
from app.fhir.outcome import bad_request
from app.fhir.search.dates import approximate, date_range
from app.fhir.search.types.base import Row, SearchType, ValueContext

DatePrefix = Literal["eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"]
PREFIXES = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"})


@dataclass(frozen=True, slots=True)
class DateValue:
    """A prefix and the search value's implicit range [low, high) in UTC."""

    prefix: DatePrefix
    low: datetime
    high: datetime

    def approximate(self) -> tuple[datetime, datetime]:
        """The range `ap` accepts, widened from now (dates.approximate)."""
        return approximate(self.low, self.high, now_utc())


def parse(raw: str, ctx: ValueContext) -> DateValue:
    prefix = "eq"
    if raw[:2].isalpha():
        prefix, raw = raw[:2], raw[2:]
        if prefix not in PREFIXES:
            raise bad_request(f"Unknown date prefix '{prefix}' in '{ctx.name}'", ctx.name)
    try:
        low, high = date_range(raw)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"Invalid date in '{ctx.name}': {exc}", ctx.name) from exc
    return DateValue(cast(DatePrefix, prefix), low, high)


def _ranges(value: Any) -> Iterator[tuple[datetime | None, datetime | None]]:
    try:
        if isinstance(value, str):
            yield date_range(value)
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            start, end = value.get("start"), value.get("end")
            low = date_range(start)[0] if isinstance(start, str) else None
            high = date_range(end)[1] if isinstance(end, str) else None
            if low is not None or high is not None:
                yield low, high
        elif isinstance(value, dict):  # Timing: events and repeat.bounds[x]
            for event in value.get("event") or []:
                if isinstance(event, str):
                    yield date_range(event)
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                yield from _ranges(bounds)
    except ValueError:
        return


def rows(param: str, value: Any) -> Iterator[Row]:
    for low, high in _ranges(value):
        yield {"low": low, "high": high}


def range_matches(low: datetime | None, high: datetime | None, v: DateValue) -> bool:
    """The stored range [low, high) (None = open) against the prefixed search range."""
    if v.prefix == "ap":
        al, ah = v.approximate()
        return (low is None or low < ah) and (high is None or high > al)
    contained = low is not None and high is not None and low >= v.low and high <= v.high
    above = high is None or high > v.high
    below = low is None or low < v.low
    return {
        "eq": contained,
        "ne": not contained,
        "gt": above,
        "lt": below,
        "ge": above or contained,
        "le": below or contained,
        "sa": low is not None and low >= v.high,
        "eb": high is not None and high <= v.low,
    }[v.prefix]


def point_matches(t: datetime, v: DateValue) -> bool:
    """A single instant (`_lastUpdated`, a column of the resource) against the range."""
    if v.prefix == "ap":
        al, ah = v.approximate()
        return al <= t < ah
    inside = v.low <= t < v.high
    return {
        "eq": inside,
        "ne": not inside,
        "gt": t >= v.high,
        "sa": t >= v.high,
        "lt": t < v.low,
        "eb": t < v.low,
        "ge": t >= v.low,
        "le": t < v.high,
    }[v.prefix]


def matches(row: Row, v: DateValue, modifier: str | None) -> bool:
    return range_matches(row["low"], row["high"], v)


TYPE = SearchType(
    name="date",
    modifiers=frozenset({"missing"}),
    columns=("low", "high"),
    parse=parse,
    rows=rows,
    matches=matches,
)
