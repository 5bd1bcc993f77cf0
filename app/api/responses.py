"""A Result rendered as HTTP: status, body per `Prefer`, ETag, Last-Modified, Location."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from app.api.negotiation import pretty_requested, render
from app.fhir.instant import format_http_date
from app.interactions.request import FhirRequest
from app.interactions.result import Result


def fhir_response(
    request: Request, result: Result, req: FhirRequest, *, base_url: str, media_type: str
) -> Response:
    """The HTTP answer of one interaction (R4 http.html#ops: Prefer, versioning headers)."""
    headers: dict[str, str] = dict(result.headers)
    if result.stored is not None:
        headers["ETag"] = result.stored.etag
        headers["Last-Modified"] = format_http_date(result.stored.last_updated)
    location = result.location_url(base_url)
    if location:
        headers["Location"] = location
        headers["Content-Location"] = location
    return render(
        result.body_for(req.method, req.prefer_return),
        result.status,
        media_type=media_type,
        pretty=pretty_requested(request),
        headers=headers,
    )
