"""The answer of one interaction, before HTTP rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.fhir.outcome import information, operation_outcome
from app.storage.records import StoredResource


@dataclass(slots=True)
class Result:
    """Status, body and the version the response headers describe."""

    status: int
    body: dict[str, Any] | None = None
    stored: StoredResource | None = None
    # Set for creates (and update-as-create): Location is Type/id/_history/v.
    location: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # `Type/id` of a resource the caller may reference but not read (a Patient found by
    # CPR): Location names it, nothing else describes it.
    points_to: str | None = None

    def body_for(self, method: str, prefer_return: str | None) -> dict[str, Any] | None:
        """The response body honouring `Prefer: return=` (R4 http.html#ops)."""
        if self.body is not None:
            return self.body
        if self.stored is None or self.status == 304 or prefer_return == "minimal":
            return None
        if prefer_return == "OperationOutcome":
            return operation_outcome([information(f"{method} {self.stored.reference} succeeded")])
        return self.stored.content

    def location_url(self, base_url: str) -> str | None:
        """Location of a created version (or of the resource `points_to` names)."""
        if self.points_to is not None:
            return f"{base_url}/{self.points_to}"
        stored = self.stored
        if not self.location or stored is None:
            return None
        return f"{base_url}/{stored.reference}/_history/{stored.version_id}"
