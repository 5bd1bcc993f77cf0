"""Token rows in SQL (types/token.py is the in-memory twin)."""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, FromClause, Index, String, and_, true

from app.fhir.search.types import TokenValue
from app.storage.search_types.base import SqlType, index_table, starts_with

search_token = index_table(
    "search_token",
    Column("system", String(255), nullable=True),
    Column("code", String(255), nullable=True),
    # Normalised display/text for the :text modifier.
    Column("text", String(512), nullable=True),
    indexes=(Index("ix_search_token_lookup", "res_type", "param", "code", "system"),),
)


def code_condition(
    system: ColumnElement[str | None], code: ColumnElement[str | None], v: TokenValue
) -> ColumnElement[bool]:
    """`[system|]code` on a (system, code) column pair; shared with reference:identifier."""
    clauses: list[ColumnElement[bool]] = []
    if v.code is not None:
        clauses.append(code == v.code)
    if v.no_system:
        clauses.append(system.is_(None))
    elif v.system is not None:
        clauses.append(system == v.system)
    return and_(true(), *clauses)


def condition(
    t: FromClause, v: TokenValue, modifier: str | None, dialect: str
) -> ColumnElement[bool]:
    if modifier == "text":
        return starts_with(t.c.text, v.code or "", dialect)
    return code_condition(t.c.system, t.c.code, v)


SQL = SqlType("token", search_token, "code", condition)
