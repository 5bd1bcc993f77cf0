"""One FHIR interaction as data: what the HTTP layer and Bundle entries both produce."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.fhir.outcome import bad_request
from app.fhir.primitives import check_id, check_storable, parse_etag_version

_VERSION_ETAG = re.compile(r'^(W/)?"?(?P<v>[0-9]+)"?$')


@dataclass(frozen=True, slots=True)
class FhirRequest:
    """A parsed FHIR RESTful request (R4 http.html)."""

    method: str
    resource_type: str | None = None
    resource_id: str | None = None
    version: str | None = None
    # "_history", "_search", "$validate", "$meta", "$meta-add", "$meta-delete", or None.
    operation: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    if_match: str | None = None
    if_none_exist: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    prefer_return: str | None = None
    prefer_handling: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Other resources of the same transaction by `Type/id`, for profile checks.
    siblings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def lenient(self) -> bool:
        """Unknown search parameters are ignored unless `Prefer: handling=strict`.

        R4 search.html#errors: servers SHOULD ignore them by default; `handling=lenient`
        asks for exactly that. Conditional interactions do not read this: they are strict.
        """
        return self.prefer_handling != "strict"

    def without(self, names: tuple[str, ...]) -> FhirRequest:
        """This request without the query parameters `names` (those a search ignored)."""
        if not names:
            return self
        return replace(self, query=tuple((k, v) for k, v in self.query if k not in names))

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


def check_request_text(req: FhirRequest) -> None:
    """400 when the path holds no FHIR id, or path or query a character the database
    cannot store."""
    if req.resource_id is not None:
        check_id(req.resource_id)
    if req.version is not None:
        check_storable(req.version, "_history", "The version id in the URL")
    criteria = parse_qsl(req.if_none_exist, keep_blank_values=True) if req.if_none_exist else []
    for name, value in (*req.query, *criteria):
        check_storable(name, name, "A parameter name")
        check_storable(value, name, f"The value of the parameter '{name}'")


def version_from_etag(value: str, header: str = "If-Match") -> int:
    """`W/"3"` → 3; 400 for anything else."""
    match = _VERSION_ETAG.match(value.strip())
    if not match:
        raise bad_request(f'{header} must be a version ETag such as W/"3"', header)
    return parse_etag_version(match["v"], header)


def parse_entry_url(method: str, url: str, base_url: str) -> FhirRequest:
    """Bundle.entry.request.url (relative, or absolute on our base) → FhirRequest."""
    if url.startswith(base_url + "/"):
        url = url[len(base_url) + 1 :]
    elif "://" in url:
        raise bad_request(f"Bundle entry URL '{url}' is not on this server's base {base_url}")
    parts = urlsplit(url)
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    segments = [s for s in parts.path.split("/") if s]
    request = FhirRequest(method=method.upper(), query=query)
    return _with_path(request, segments, url)


def _with_path(request: FhirRequest, segments: list[str], url: str) -> FhirRequest:
    if not segments:
        return request
    if segments[0] == "_history":
        return replace(request, operation="_history")
    if segments[0].startswith("$"):
        return replace(request, operation=segments[0])
    resource_type, rest = segments[0], segments[1:]
    if not rest:
        return replace(request, resource_type=resource_type)
    if rest[0] in ("_history", "_search") or rest[0].startswith("$"):
        if len(rest) > 1:
            raise bad_request(f"Unsupported request URL '{url}'")
        return replace(request, resource_type=resource_type, operation=rest[0])
    resource_id = rest[0]
    if len(rest) == 1:
        return replace(request, resource_type=resource_type, resource_id=resource_id)
    if rest[1] == "_history" and len(rest) in (2, 3):
        return replace(
            request,
            resource_type=resource_type,
            resource_id=resource_id,
            operation="_history",
            version=rest[2] if len(rest) == 3 else None,
        )
    if rest[1].startswith("$") and len(rest) == 2:
        return replace(
            request, resource_type=resource_type, resource_id=resource_id, operation=rest[1]
        )
    raise bad_request(f"Unsupported request URL '{url}'")
