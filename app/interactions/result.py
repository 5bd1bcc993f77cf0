"""The answer of one interaction, before HTTP rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
