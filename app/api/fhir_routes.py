"""The FHIR REST routes at /fhir. Each route translates HTTP into a FhirRequest, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from app.api.body import read_body, read_json
from app.api.negotiation import (
    FHIR_JSON,
    FORM,
    JSON_PATCH,
    check_request_media_type,
    pretty_requested,
    render,
    response_media_type,
)
from app.api.openapi_schemas import route_docs
from app.fhir.instant import format_http_date
from app.fhir.resource_types import REGISTRY, Interaction, ResourceTypeSpec
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest
from app.interactions.service import FhirService
from app.settings import Settings

_JSON_BODIES = {FHIR_JSON, "application/json", "application/json+fhir"}
_CONTROL_PARAMS = {"_format", "_pretty"}

ContextFactory = Callable[[Request], Awaitable[RequestContext]]


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
        headers: dict[str, str] = dict(result.headers)
        if result.stored is not None:
            headers["ETag"] = result.stored.etag
            headers["Last-Modified"] = format_http_date(result.stored.last_updated)
        location = self.service.location(result)
        if location:
            headers["Location"] = location
            headers["Content-Location"] = location
        body = self.service.body_for(result, fhir_request)
        return render(
            body,
            result.status,
            media_type=media_type,
            pretty=pretty_requested(request),
            headers=headers,
        )

    def endpoint(self, **fixed: str) -> Callable[..., Awaitable[Response]]:
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


def _add_type_routes(router: APIRouter, endpoints: FhirEndpoints, spec: ResourceTypeSpec) -> None:
    name = spec.name
    ep = endpoints.endpoint

    def add(path: str, methods: list[str], interaction: str, **fixed: str) -> None:
        router.add_api_route(
            path,
            ep(resource_type=name, **fixed),
            methods=methods,
            name=f"{name}-{interaction}-{'-'.join(methods).lower()}",
            **route_docs(name, interaction, methods[0]),
        )

    supports = spec.supports
    if supports(Interaction.SEARCH_TYPE):
        add(f"/{name}", ["GET"], "search")
        add(f"/{name}/_search", ["POST"], "search", operation="_search")
    if supports(Interaction.CREATE):
        add(f"/{name}", ["POST"], "create")
        add(f"/{name}", ["PUT"], "conditional-update")
        add(f"/{name}", ["PATCH"], "conditional-patch")
        add(f"/{name}", ["DELETE"], "conditional-delete")
    if supports(Interaction.CREATE):
        add(f"/{name}/$validate", ["POST"], "validate", operation="$validate")
    if supports(Interaction.HISTORY_TYPE):
        add(f"/{name}/_history", ["GET"], "history-type", operation="_history")
    if supports(Interaction.READ):
        add(f"/{name}/{{id}}", ["GET"], "read")
    if supports(Interaction.UPDATE):
        add(f"/{name}/{{id}}", ["PUT"], "update")
        add(f"/{name}/{{id}}", ["PATCH"], "patch")
        add(f"/{name}/{{id}}", ["DELETE"], "delete")
    if supports(Interaction.HISTORY_INSTANCE):
        add(f"/{name}/{{id}}/_history", ["GET"], "history-instance", operation="_history")
    if supports(Interaction.VREAD):
        add(f"/{name}/{{id}}/_history/{{vid}}", ["GET"], "vread", operation="_history")


def fhir_router(service: FhirService, settings: Settings, context: ContextFactory) -> APIRouter:
    endpoints = FhirEndpoints(service, settings, context)
    router = APIRouter()
    router.add_api_route(
        "",
        endpoints.endpoint(),
        methods=["POST"],
        name="batch-transaction",
        **route_docs(None, "transaction", "POST"),
    )
    router.add_api_route(
        "",
        endpoints.endpoint(),
        methods=["GET"],
        name="search-system",
        **route_docs(None, "search-system", "GET"),
    )
    router.add_api_route(
        "/_history",
        endpoints.endpoint(operation="_history"),
        methods=["GET"],
        name="history-system",
        **route_docs(None, "history-system", "GET"),
    )
    for method in ("GET", "POST"):
        router.add_api_route(
            "/$rehabilitation-outcomes",
            endpoints.endpoint(operation="$rehabilitation-outcomes"),
            methods=[method],
            name=f"rehabilitation-outcomes-{method.lower()}",
            **route_docs(None, "rehabilitation-outcomes", method),
        )
    # Clients differ on whether the base URL ends in a slash; accept both.
    router.add_api_route(
        "/", endpoints.endpoint(), methods=["GET", "POST"], include_in_schema=False
    )
    for spec in REGISTRY.values():
        _add_type_routes(router, endpoints, spec)
    for method in ("GET", "POST"):  # R4 patient-operation-everything
        router.add_api_route(
            "/Patient/{id}/$everything",
            endpoints.endpoint(resource_type="Patient", operation="$everything"),
            methods=[method],
            name=f"Patient-everything-{method.lower()}",
            **route_docs("Patient", "everything", method),
        )
    return router


def mount_fhir(app: FastAPI, router: APIRouter) -> None:
    app.include_router(router, prefix="/fhir")
