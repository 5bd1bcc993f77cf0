"""OpenAPI documentation of the FHIR routes: real request/response schemas per type.

Generated from the operations table (app/fhir/operations.py): path parameters, request
bodies, every status the operation really answers and its headers. The schemas are in
`fhir_json_schemas.py`.
"""

from __future__ import annotations

from typing import Any

from app.fhir.operations import Operation
from app.fhir.primitives import ID_PATTERN

FHIR_MEDIA = "application/fhir+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# What each status means, as the service answers it (app/api/errors.py, app/fhir/outcome.py).
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    304: "Not modified (If-None-Match names the current version)",
    400: "Bad request (the OperationOutcome names the element or parameter)",
    401: "Missing or invalid bearer token",
    403: "Forbidden by the authorization rules",
    404: "Unknown or not visible",
    406: "The client accepts nothing but FHIR JSON can answer",
    409: "Conflict (the id exists, or a concurrent change; retry)",
    410: "Deleted",
    412: "Precondition failed (stale If-Match, several conditional matches)",
    413: "The body exceeds the size, depth or array limits",
    415: "Unsupported Content-Type",
    422: "Violates a profile or a FHIR invariant",
    429: "Too many failed authentications (Retry-After says when to retry)",
    500: "The export job failed (the OperationOutcome says why)",
}
_SUCCESS = frozenset({200, 201})
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "ETag": {"type": "string", "pattern": '^W/"[0-9]+"$'},
    "Last-Modified": {"type": "string"},
    "Location": {"type": "string", "format": "uri"},
    "Content-Location": {"type": "string", "format": "uri"},
}
_MEDIA = (FHIR_MEDIA, "application/json")
# R4 datatypes.html#id; a version id is digits.
_PATH_PARAMETERS = {
    "id": {"type": "string", "pattern": ID_PATTERN},
    "vid": {"type": "string", "pattern": "^[0-9]{1,10}$"},
}


# RFC 6902 §4: an array of operations, each with `op` and `path`.
_JSON_PATCH = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string", "pattern": "^(/[^/]*)*$"},
            "from": {"type": "string", "pattern": "^(/[^/]*)*$"},
            "value": {},
        },
    },
}


def _bodies(schema: dict[str, Any]) -> dict[str, Any]:
    return {media: {"schema": schema} for media in _MEDIA}


def _answer_schema(op: Operation, resource_type: str | None) -> dict[str, Any] | None:
    if op.answer == "bundle":
        return _ref("Bundle")
    if op.answer in ("outcome", "none"):
        return _ref("OperationOutcome")
    resource = _ref(resource_type or "Bundle")
    if op.write:
        # Prefer: return=OperationOutcome (R4 http.html#ops), or the Location-only answer of
        # a conditional create that matched a Patient the caller may not read.
        return {"oneOf": [resource, _ref("OperationOutcome")]}
    return resource


def _response(op: Operation, status: int, resource_type: str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _STATUS_TEXT[status]}
    if status in (204, 304):
        return response
    if status in _SUCCESS:
        schema = _answer_schema(op, resource_type)
        if schema is not None:
            response["content"] = _bodies(schema)
        if op.headers:
            response["headers"] = {
                name: {"schema": _HEADER_SCHEMAS[name], "required": False} for name in op.headers
            }
        return response
    return shared_error(status)


def shared_error(status: int) -> dict[str, Any]:
    """The error answers are shared (components.responses, `error_responses`)."""
    return {"$ref": f"#/components/responses/{status}", "description": _STATUS_TEXT[status]}


def error_responses() -> dict[str, Any]:
    """components.responses: every error status answered, an OperationOutcome each."""
    responses: dict[str, Any] = {}
    for status, text in _STATUS_TEXT.items():
        if status < 400:
            continue
        response: dict[str, Any] = {
            "description": text,
            "content": _bodies(_ref("OperationOutcome")),
        }
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": True}}
        responses[str(status)] = response
    return responses


def _request_body(op: Operation, resource_type: str | None) -> dict[str, Any] | None:
    if op.body == "resource":
        return {"required": True, "content": {FHIR_MEDIA: {"schema": _ref(resource_type or "")}}}
    if op.body == "bundle":
        return {"required": True, "content": {FHIR_MEDIA: {"schema": _ref("Bundle")}}}
    if op.body == "patch":
        return {
            "required": True,
            "content": {"application/json-patch+json": {"schema": _JSON_PATCH}},
        }
    if op.body == "parameters":  # R4 operations.html#request: the POST form of GET
        return {"required": True, "content": _bodies(_ref("Parameters"))}
    if op.body == "form":
        return {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        }
    return None


def route_docs(op: Operation, resource_type: str | None) -> dict[str, Any]:
    """FastAPI add_api_route keyword arguments documenting one operation of the table."""
    extra: dict[str, Any] = {}
    path = op.path(resource_type)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in _PATH_PARAMETERS.items()
        if f"{{{name}}}" in path
    ]
    if parameters:
        extra["parameters"] = parameters
    body = _request_body(op, resource_type)
    if body is not None:
        extra["requestBody"] = body
    return {
        "summary": op.summary.format(t=resource_type or "resources"),
        "tags": [resource_type or "System"],
        "responses": {
            str(status): _response(op, status, resource_type)
            for status in sorted(op.all_statuses())
        },
        "openapi_extra": extra,
        "include_in_schema": True,
    }


# Bulk Data Access 2.0 (export.html#headers). Accept too, which OpenAPI 3 does not let a
# header parameter describe: one admitting application/fhir+json (or none) is taken.
_ASYNC_HEADERS = (
    {
        "name": "Prefer",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "enum": ["respond-async"]},
    },
)
_COMMON_ERRORS = (400, 401, 403, 406, 429)


def bulk_docs(
    summary: str,
    answers: dict[int, dict[str, Any]],
    *,
    path_parameters: tuple[str, ...] = (),
    kickoff: bool = False,
    body: bool = False,
) -> dict[str, Any]:
    """add_api_route keyword arguments for a Bulk Data route of api/export_routes.py: its
    success answers as given (`answers`: status -> OpenAPI response), the shared errors."""
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in path_parameters
    ]
    if kickoff:
        parameters += _ASYNC_HEADERS
    extra: dict[str, Any] = {"parameters": parameters} if parameters else {}
    errors = set(_COMMON_ERRORS) | {404} | ({413, 415} if body else set())
    if body:
        extra["requestBody"] = {"required": False, "content": _bodies(_ref("Parameters"))}
    responses: dict[str, Any] = {str(k): v for k, v in answers.items()}
    for status in sorted(errors - answers.keys()):
        responses[str(status)] = shared_error(status)
    return {
        "summary": summary,
        "tags": ["Bulk Data"],
        "responses": dict(sorted(responses.items())),
        "openapi_extra": extra,
    }
