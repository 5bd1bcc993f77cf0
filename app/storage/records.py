"""What the repository hands back: one stored version of one resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, FromClause


class SecurityPredicate(Protocol):
    """(resource type, aliased `resource` table) -> the WHERE condition that limits which
    rows the caller may see. Built only by `access_sql.Visibility` from a policy.

    `patient_scoped`: the statement binds access_sql.SCOPE_PATIENT to the patient it
    searches for; the same rows pass, with that patient's facts decided once."""

    def __call__(
        self, resource_type: str, table: FromClause, /, *, patient_scoped: bool = False
    ) -> ColumnElement[bool]: ...


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
    # The organisation that created the resource (only it may change it).
    author_sor: str | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"
