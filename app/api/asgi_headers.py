"""Small helpers for the plain ASGI middlewares of this package (raw header lists)."""

from __future__ import annotations

from starlette.types import Message, Scope

Headers = list[tuple[bytes, bytes]]

# The paths of the FHIR API and the authorization server; the portal sets its own headers.
API_PREFIXES = ("/fhir", "/auth")


def in_api(scope: Scope) -> bool:
    """Is this request for /fhir or /auth (not the portal, not /healthz)?"""
    path: str = scope.get("path", "")
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header `name` (lower-case bytes), decoded as latin-1."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def with_headers(message: Message, extra: Headers, *, replace: bool = False) -> Message:
    """`http.response.start` with `extra` added; without `replace`, existing names win."""
    headers: Headers = list(message.get("headers", []))
    present = {key.lower() for key, _ in headers}
    if replace:
        names = {key for key, _ in extra}
        headers = [(k, v) for k, v in headers if k.lower() not in names]
        present -= names
    headers += [(k, v) for k, v in extra if k not in present]
    return {**message, "headers": headers}
