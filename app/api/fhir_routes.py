"""The FHIR REST routes at /fhir. Each route translates HTTP into a FhirRequest, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.convertors import StringConvertor, register_url_convertor

from app.api.body import read_body, read_json
from app.api.negotiation import (
    FHIR_JSON,
    FORM,
    JSON_PATCH,
    check_request_media_type,
    response_media_type,
)
from app.api.openapi_schemas import route_docs
from app.api.responses import fhir_response
from app.fhir.operations import routes
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest
from app.interactions.service import FhirService
from app.settings import Settings

_JSON_BODIES = {FHIR_JSON, "application/json", "application/json+fhir"}


class _IdConvertor(StringConvertor):
    """An id segment never starts with `_` or `$` (R4 datatypes.html#id), so `CarePlan/_search`
    and `CarePlan/_history` are not also `CarePlan/{id}` and `Allow` names only their methods.
    Anything else reaches the interaction, which answers a bad id with a 400 naming it."""

    regex = "[^/_$][^/]*"


register_url_convertor("fhir_id", _IdConvertor())
_CONTROL_PARAMS = {"_format", "_pretty"}

ContextFactory = Callable[[Request], Awaitable[RequestContext]]
Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class FhirRoute(APIRoute):
    """A FHIR route whose endpoint takes the Request and returns the Response itself.

    There are no parameters, body or dependencies for FastAPI to solve (the endpoint reads
    what it needs), so the endpoint is the handler: FastAPI's own per-request handler
    (endpoint context, body sniffing, dependency solving, response checks) cost about
    40 us of a read (issue #14). Still an APIRoute: the OpenAPI document is unchanged."""

    def get_route_handler(self) -> Endpoint:
        return cast(Endpoint, self.endpoint)


def _prefer(request: Request, name: str) -> str | None:
    for part in request.headers.get("prefer", "").split(";"):
        for token in part.split(","):
            key, _, value = token.strip().partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"')
    return None


async def _fhir_request(request: Request, settings: Settings, **path: str | None) -> FhirRequest:
    """Everything an interaction needs from the HTTP request, read once."""
    method = request.method
    query = [
        (k, v)
        for k, v in parse_qsl(request.url.query, keep_blank_values=True)
        if k not in _CONTROL_PARAMS
    ]
    body: Any = None
    operation = path.get("operation")
    if method == "POST" and operation == "_search":
        if request.headers.get("content-type"):
            check_request_media_type(request, {FORM})
            raw = (await read_body(request, settings.max_body_bytes)).decode("utf-8", "replace")
            query += parse_qsl(raw, keep_blank_values=True)
    elif method in ("POST", "PUT"):
        check_request_media_type(request, _JSON_BODIES)
        body = await read_json(request, settings)
    elif method == "PATCH":
        check_request_media_type(request, {JSON_PATCH})
        body = await read_json(request, settings)
    return FhirRequest(
        method=method,
        resource_type=path.get("resource_type"),
        resource_id=path.get("resource_id"),
        version=path.get("version"),
        operation=operation,
        query=tuple(query),
        body=body,
        if_match=request.headers.get("if-match"),
        if_none_exist=request.headers.get("if-none-exist"),
        if_none_match=request.headers.get("if-none-match"),
        if_modified_since=request.headers.get("if-modified-since"),
        prefer_return=_prefer(request, "return"),
        prefer_handling=_prefer(request, "handling"),
        content_type=request.headers.get("content-type"),
    )


class FhirEndpoints:
    """Binds the service, settings and context factory; makes one endpoint per route."""

    def __init__(self, service: FhirService, settings: Settings, context: ContextFactory) -> None:
        self.service = service
        self.settings = settings
        self.context = context

    async def respond(self, request: Request, **path: str | None) -> Response:
        media_type = response_media_type(request)
        ctx = await self.context(request)  # authenticate before reading any body
        fhir_request = await _fhir_request(request, self.settings, **path)
        result = await self.service.execute(ctx, fhir_request)
        return fhir_response(
            request, result, fhir_request, base_url=self.service.base_url, media_type=media_type
        )

    def endpoint(self, **fixed: str) -> Endpoint:
        async def typed(request: Request) -> Response:
            params = request.path_params
            return await self.respond(
                request,
                resource_type=fixed.get("resource_type"),
                resource_id=params.get("id"),
                version=params.get("vid"),
                operation=fixed.get("operation"),
            )

        return typed


def add_fhir_routes(
    router: APIRouter,
    service: FhirService,
    settings: Settings,
    context: ContextFactory,
    prefix: str = "/fhir",
) -> None:
    """One route per (operation, resource type) of the operations table, added to `router`
    itself under `prefix`: as an included router, the 200-odd routes were scanned twice per
    request (FastAPI matches an included router, then its routes again), about a tenth of
    a read's CPU (issue #14)."""
    endpoints = FhirEndpoints(service, settings, context)
    for op, resource_type in routes():
        fixed = {"resource_type": resource_type, "operation": op.segment}
        router.add_api_route(
            prefix + op.path(resource_type).replace("{id}", "{id:fhir_id}"),
            endpoints.endpoint(**{k: v for k, v in fixed.items() if v is not None}),
            methods=[op.method],
            name=f"{resource_type or 'system'}-{op.name}-{op.method.lower()}",
            route_class_override=FhirRoute,
            **route_docs(op, resource_type),
        )
    # Clients differ on whether the base URL ends in a slash; accept both.
    router.add_api_route(
        prefix + "/",
        endpoints.endpoint(),
        methods=["GET", "POST"],
        include_in_schema=False,
        route_class_override=FhirRoute,
    )
