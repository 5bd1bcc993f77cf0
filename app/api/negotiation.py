"""Content negotiation: FHIR JSON only (R4 http.html#mime-type); XML answered 406/415."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from app.fhir.outcome import FhirError
from app.fhir.primitives import printable

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"
_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}
_FORMAT_ALIASES = {"json": FHIR_JSON, "application/json": "application/json", FHIR_JSON: FHIR_JSON}
_XML_FORMATS = {"xml", "text/xml", "application/xml", "application/fhir+xml", "html", "ttl"}


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def response_media_type(request: Request) -> str:
    """The JSON flavour to answer with; 406 when the client accepts only something else."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        # An unencoded `+` arrives as a space: `application/fhir json` is `fhir+json`.
        fmt = "+".join(fmt.lower().split())
        if fmt in _FORMAT_ALIASES:
            return _FORMAT_ALIASES[fmt]
        raise FhirError.of(
            406,
            "not-supported",
            f"_format={printable(fmt)} is not supported: this server speaks FHIR JSON only",
            "_format",
        )
    accept = request.headers.get("accept")
    if not accept:
        return FHIR_JSON
    types = _media_types(accept)
    for media_type in types:
        if media_type in _JSON_TYPES:
            return "application/json" if media_type == "application/json" else FHIR_JSON
        if media_type in ("*/*", "application/*"):
            return FHIR_JSON
    raise FhirError.of(406, "not-supported", "This server answers in application/fhir+json only")


def check_request_media_type(request: Request, allowed: set[str]) -> str:
    """The body's media type if allowed; 415 otherwise (also for a non-UTF-8 charset)."""
    header = request.headers.get("content-type", "")
    media_type = header.split(";")[0].strip().lower()
    if media_type not in allowed:
        raise FhirError.of(
            415,
            "not-supported",
            f"Content-Type '{media_type or '(none)'}' is not supported; use "
            + " or ".join(sorted(allowed)),
        )
    for parameter in header.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise FhirError.of(415, "not-supported", "FHIR JSON must be UTF-8 encoded")
    return media_type


def pretty_requested(request: Request) -> bool:
    return request.query_params.get("_pretty", "").lower() == "true"


def render(
    body: dict[str, Any] | None,
    status: int,
    *,
    media_type: str = FHIR_JSON,
    pretty: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    content = orjson.dumps(_ordered(body), option=orjson.OPT_INDENT_2 if pretty else 0)
    return Response(
        content, status_code=status, media_type=f"{media_type}; charset=utf-8", headers=headers
    )


def _ordered(resource: dict[str, Any]) -> dict[str, Any]:
    """resourceType, id and meta first (the FHIR JSON convention; JSONB reorders keys)."""
    if "resourceType" not in resource:
        return resource
    head: dict[str, Any] = {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}
    head.update(resource)
    return head
