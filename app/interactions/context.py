"""The request context, built once per request and handed down (principle 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.access.principal import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking, and the request-wide options that are not part of one interaction."""

    request_id: str
    # None only for trusted internal callers (the demo loader, `esp-careplans load`).
    principal: Principal | None = None
    override_reason: str | None = None
    # Informational notes collected while handling (e.g. lenient search warnings).
    notes: list[str] = field(default_factory=list)
