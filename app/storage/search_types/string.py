"""String rows in SQL (types/string.py is the in-memory twin)."""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, FromClause, Index, String

from app.fhir.search.types import StringValue
from app.storage.search_types.base import SqlType, escape_like, index_table, starts_with

search_string = index_table(
    "search_string",
    # Case- and accent-folded value for FHIR's default "starts with" matching.
    Column("value_norm", String(512), nullable=False),
    Column("value_exact", String(512), nullable=False),
    indexes=(
        Index(
            "ix_search_string_lookup",
            "res_type",
            "param",
            "value_norm",
            postgresql_ops={"value_norm": "varchar_pattern_ops"},
        ),
    ),
)


def condition(
    t: FromClause, v: StringValue, modifier: str | None, dialect: str
) -> ColumnElement[bool]:
    if modifier == "exact":
        return t.c.value_exact == v.exact
    if modifier == "contains":
        return t.c.value_norm.like("%" + escape_like(v.norm) + "%", escape="\\")
    return starts_with(t.c.value_norm, v.norm, dialect)


SQL = SqlType("string", search_string, "value_norm", condition)
