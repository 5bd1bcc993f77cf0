"""The request context, built once per request and handed down (principle 2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.access.principal import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking, and the request-wide options that are not part of one interaction."""

    request_id: str
    # Always a principal: a token's, or an internal job's (`Principal.internal`).
    principal: Principal
    override_reason: str | None = None
    # Informational notes collected while handling (e.g. lenient search warnings).
    notes: list[str] = field(default_factory=list)
