"""Uri rows in SQL (types/uri.py is the in-memory twin)."""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, FromClause, Index, String

from app.fhir.search.types import UriValue
from app.fhir.search.types.uri import URI_LENGTH, above
from app.storage.search_types.base import SqlType, index_table, starts_with

search_uri = index_table(
    "search_uri",
    Column("uri", String(URI_LENGTH), nullable=False),
    indexes=(Index("ix_search_uri_lookup", "res_type", "param", "uri"),),
)


def condition(
    t: FromClause, v: UriValue, modifier: str | None, dialect: str
) -> ColumnElement[bool]:
    if modifier == "below":
        return starts_with(t.c.uri, v.uri, dialect)
    if modifier == "above":
        return t.c.uri.in_(above(v.uri))
    return t.c.uri == v.uri


SQL = SqlType("uri", search_uri, "uri", condition)
