"""Paging links: the request's own URL with a signed cursor (R4 http.html#paging)."""

from __future__ import annotations

from urllib.parse import urlencode

from app.fhir.primitives import parse_count
from app.interactions.request import FhirRequest

CURSOR_PARAM = "_cursor"


def request_path(req: FhirRequest) -> str:
    parts = [p for p in (req.resource_type, req.resource_id) if p]
    if req.operation == "_history" or (req.operation or "").startswith("$"):
        parts.append(req.operation or "")
    return "/".join(parts)


def page_url(base_url: str, req: FhirRequest, cursor: str | None = None) -> str:
    """The request's URL (POST _search rendered as GET), optionally at another cursor."""
    query = [(k, v) for k, v in req.query if k != CURSOR_PARAM]
    if cursor is not None:
        query.append((CURSOR_PARAM, cursor))
    path = request_path(req)
    url = f"{base_url}/{path}" if path else base_url
    return f"{url}?{urlencode(query)}" if query else url


def count_param(req: FhirRequest, default: int, maximum: int) -> int:
    raw = req.param("_count")
    if raw is None:
        return default
    return parse_count(raw, "_count", maximum)
