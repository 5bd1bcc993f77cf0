"""Reference rows in SQL (types/reference.py is the in-memory twin)."""

from __future__ import annotations

from sqlalchemy import Column, ColumnElement, FromClause, Index, String, and_

from app.fhir.search.types import ReferenceValue, TokenValue
from app.storage.search_types.base import SqlType, index_table
from app.storage.search_types.token import code_condition

search_reference = index_table(
    "search_reference",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    # Absolute or canonical references that do not point into this server.
    Column("target_url", String(1024), nullable=True),
    # Reference.identifier, for the :identifier modifier.
    Column("ident_system", String(255), nullable=True),
    Column("ident_value", String(255), nullable=True),
    indexes=(
        # res_pk last: one target's rows come in pk order, so a default-ordered page of
        # `subject=Patient/X` walks them and stops after LIMIT matches (search_sql.Driver).
        Index(
            "ix_search_reference_target_pk",
            "res_type",
            "param",
            "target_id",
            "target_type",
            "res_pk",
        ),
        Index("ix_search_reference_ident", "res_type", "param", "ident_value", "ident_system"),
        Index("ix_search_reference_reverse", "target_type", "target_id", "param"),
    ),
)


def condition(
    t: FromClause, v: ReferenceValue | TokenValue, modifier: str | None, dialect: str
) -> ColumnElement[bool]:
    if isinstance(v, TokenValue):  # :identifier
        return code_condition(t.c.ident_system, t.c.ident_value, v)
    if v.url is not None:
        return t.c.target_url == v.url
    if v.type is None:
        return t.c.target_id == v.id
    return and_(t.c.target_id == v.id, t.c.target_type == v.type)


SQL = SqlType("reference", search_reference, "target_id", condition)
