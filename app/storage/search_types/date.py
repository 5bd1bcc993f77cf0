"""Date rows in SQL (types/date.py is the in-memory twin: `range_matches`, `point_matches`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ColumnElement, FromClause, Index, and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement as Col

from app.fhir.search.types import DateValue
from app.storage.search_types.base import SqlType, index_table
from app.storage.types import UtcDateTime

search_date = index_table(
    "search_date",
    # The value as a half-open range [low, high) honouring its precision.
    Column("low", UtcDateTime, nullable=True),
    Column("high", UtcDateTime, nullable=True),
    indexes=(
        Index("ix_search_date_low", "res_type", "param", "low"),
        Index("ix_search_date_high", "res_type", "param", "high"),
    ),
)


def range_condition(low: Col[datetime], high: Col[datetime], v: DateValue) -> ColumnElement[bool]:
    """R4 search.html#prefix on ranges: [low, high) of the value vs [v.low, v.high)."""
    sl, sh = v.low, v.high
    if v.prefix == "ap":
        al, ah = v.approximate()
        return and_(or_(low.is_(None), low < ah), or_(high.is_(None), high > al))
    contained = and_(low.is_not(None), high.is_not(None), low >= sl, high <= sh)
    above = or_(high.is_(None), high > sh)
    below = or_(low.is_(None), low < sl)
    return {
        "eq": contained,
        "ne": not_(contained),
        "gt": above,
        "lt": below,
        "ge": or_(above, contained),
        "le": or_(below, contained),
        "sa": and_(low.is_not(None), low >= sh),
        "eb": and_(high.is_not(None), high <= sl),
    }[v.prefix]


def point_condition(t: Col[datetime], v: DateValue) -> ColumnElement[bool]:
    """A single instant column (resource.last_updated) against the prefixed range."""
    sl, sh = v.low, v.high
    if v.prefix == "ap":
        al, ah = v.approximate()
        return and_(t >= al, t < ah)
    inside = and_(t >= sl, t < sh)
    return {
        "eq": inside,
        "ne": not_(inside),
        "gt": t >= sh,
        "sa": t >= sh,
        "lt": t < sl,
        "eb": t < sl,
        "ge": t >= sl,
        "le": t < sh,
    }[v.prefix]


def condition(
    t: FromClause, v: DateValue, modifier: str | None, dialect: str
) -> ColumnElement[bool]:
    return range_condition(t.c.low, t.c.high, v)


SQL = SqlType("date", search_date, "low", condition)
