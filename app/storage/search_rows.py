"""Rows a search returns, read from the current version of each resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Row, Select, and_, select

from app.storage.tables import resource, resource_version


@dataclass(frozen=True, slots=True)
class StoredRow:
    """The current version of one resource."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: datetime
    content: dict[str, Any]
    pk: int


def select_rows(r: FromClause, *extra: ColumnElement[Any]) -> Select[Any]:
    """SELECT the StoredRow columns of `r` (an aliased resource) joined to its current version."""
    rv = resource_version.alias()
    return select(
        r.c.pk, r.c.res_type, r.c.res_id, r.c.version_id, r.c.last_updated, rv.c.content, *extra
    ).select_from(r.join(rv, and_(rv.c.res_pk == r.c.pk, rv.c.version_id == r.c.version_id)))


def to_stored(row: Row[Any]) -> StoredRow:
    return StoredRow(
        res_type=row.res_type,
        res_id=row.res_id,
        version_id=row.version_id,
        last_updated=row.last_updated,
        content=row.content,
        pk=row.pk,
    )


__all__ = ["StoredRow", "resource", "select_rows", "to_stored"]
