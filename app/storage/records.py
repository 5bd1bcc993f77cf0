"""What the repository hands back: one stored version of one resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, true

# (resource type, aliased `resource` table) -> the WHERE condition that limits
# which rows the caller may see. The authorization layer supplies it.
SecurityPredicate = Callable[[str, FromClause], ColumnElement[bool]]


def allow_all(_resource_type: str, _table: FromClause) -> ColumnElement[bool]:
    """No restriction: for trusted internal callers (migrations, the demo loader)."""
    return true()


@dataclass(slots=True)
class StoredResource:
    """One version of a resource as stored (content is None for a deletion)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None
    method: str = "PUT"
    pk: int = 0

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"
