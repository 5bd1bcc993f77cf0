"""The storage side of each search-parameter type: index table, sort column, SQL.

One module per type, the twin of app.fhir.search.types.<type> (which owns parsing,
extraction and the in-memory match). Adding a type: its module here and its line in
SQL_TYPES, plus a migration for the table (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import Table

from app.storage.search_types import date, reference, string, token, uri
from app.storage.search_types.base import SqlType, starts_with
from app.storage.search_types.date import point_condition
from app.storage.search_types.reference import search_reference
from app.storage.search_types.token import search_token

SQL_TYPES: Mapping[str, SqlType] = MappingProxyType(
    {t.name: t for t in (token.SQL, string.SQL, reference.SQL, date.SQL, uri.SQL)}
)
INDEX_TABLES: Mapping[str, Table] = MappingProxyType({t.name: t.table for t in SQL_TYPES.values()})

__all__ = [
    "INDEX_TABLES",
    "SQL_TYPES",
    "SqlType",
    "point_condition",
    "search_reference",
    "search_token",
    "starts_with",
]
