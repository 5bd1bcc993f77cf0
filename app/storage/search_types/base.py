"""What a search-parameter type provides on the storage side: its index table, its sort
column and the SQL condition for one value on one row (the SQL twin of the type's
`matches` in app.fhir.search.types)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, ForeignKey, FromClause, Index, String, Table, and_
from sqlalchemy.sql.elements import ColumnElement as Col

from app.storage.schema import metadata
from app.storage.types import BigIntKey

_MAX_CHAR = "\U0010ffff"

# (the aliased index table, one parsed value, the filter's modifier, the dialect name)
Condition = Callable[[FromClause, Any, "str | None", str], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class SqlType:
    name: str
    table: Table
    sort_column: str  # ordered by its min (ascending) or max (descending) per resource
    condition: Condition


def index_table(name: str, *columns: Column[Any], indexes: tuple[Index, ...]) -> Table:
    """A search-index table: one row per extracted value of one search parameter."""
    return Table(
        name,
        metadata,
        Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
        Column("res_type", String(64), nullable=False),
        Column("param", String(64), nullable=False),
        *columns,
        Index(f"ix_{name}_res", "res_pk"),
        *indexes,
    )


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def starts_with(column: Col[str], prefix: str, dialect: str) -> ColumnElement[bool]:
    """Index-friendly prefix match: LIKE on PostgreSQL (varchar_pattern_ops), a range on SQLite."""
    if dialect == "sqlite":
        return and_(column >= prefix, column < prefix + _MAX_CHAR)
    return column.like(escape_like(prefix) + "%", escape="\\")
