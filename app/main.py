"""The composition root: builds the ASGI app from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi

from app.access.authorities import Authorities
from app.api.api_docs import OPENAPI_URL, install_api_docs
from app.api.cors import CorsMiddleware
from app.api.dev_inbox import dev_inbox_router
from app.api.errors import install_error_handlers
from app.api.export_routes import export_router
from app.api.fhir_json_schemas import component_schemas
from app.api.fhir_routes import add_fhir_routes
from app.api.methods import MethodsMiddleware
from app.api.middleware import RequestContextMiddleware
from app.api.openapi_schemas import error_responses
from app.api.rate_limit import RateLimiter, RateLimitMiddleware, RateLimits
from app.api.response_headers import ResponseHeadersMiddleware
from app.api.routes_auth import router as auth_router
from app.api.system_routes import system_router
from app.auth.launch import Citizen
from app.auth.service import AuthService, build_auth_service
from app.deployment import check_deployment
from app.exports.worker import ExportWorker
from app.fhir.capability import capability_statement
from app.fhir.primitives import check_storable
from app.fhir.profiles import ProfileCatalog
from app.fhir.subscription import EndpointPolicy
from app.integrations.registries import HttpCustodyRegistry, HttpTreatmentRelationService
from app.interactions.access_setup import ExternalRegistries
from app.interactions.conformance import ConformanceResources
from app.interactions.context import RequestContext
from app.interactions.export import ExportService, ExportSettings
from app.interactions.service import FhirService, ServiceLimits
from app.logging_setup import configure_logging
from app.portal import portal_router, portal_static
from app.portal.personas import personas as portal_personas
from app.settings import Settings, get_settings
from app.storage.engine import create_engine_async
from app.storage.repository import SearchLimits
from app.storage.unit_of_work import Storage
from app.subscriptions.worker import DeliverySettings, DeliveryWorker
from app.version import RELEASE_DATE, __version__

log = logging.getLogger("esp.main")


@cache
def load_catalog(directory: Path) -> ProfileCatalog:
    """The profiles, compiled once per process (they are read-only)."""
    return ProfileCatalog.load(directory)


def external_registries(settings: Settings, client: httpx.AsyncClient) -> ExternalRegistries:
    """The registries of ESP_CUSTODY_REGISTRY_URL and ESP_TREATMENT_RELATION_URL, if set."""
    return ExternalRegistries(
        custody=HttpCustodyRegistry(settings.custody_registry_url, client)
        if settings.custody_registry_url
        else None,
        treatment_relation=HttpTreatmentRelationService(settings.treatment_relation_url, client)
        if settings.treatment_relation_url
        else None,
    )


def build_service(settings: Settings, registries: ExternalRegistries | None = None) -> FhirService:
    engine = create_engine_async(settings.database_url)
    storage = Storage(engine, base_url=settings.base_url)
    catalog = load_catalog(settings.profiles_dir)
    return FhirService(
        storage,
        cursor_key=settings.cursor_secret.encode(),
        profiles=catalog,
        conformance=ConformanceResources(catalog.resources()),
        limits=ServiceLimits(
            SearchLimits(
                default_count=settings.search_default_count,
                max_count=settings.search_max_count,
                max_includes=settings.search_max_includes,
            ),
            max_bundle_entries=settings.max_bundle_entries,
        ),
        registries=registries,
        authorities=authorities(settings),
        endpoints=endpoint_policy(settings),
    )


def authorities(settings: Settings) -> Authorities:
    return Authorities(
        relation=settings.relation_authority_sors, custody=settings.custody_authority_sors
    )


def endpoint_policy(settings: Settings) -> EndpointPolicy:
    """Where Subscriptions may notify: the listed hosts (and loopback in development)."""
    return EndpointPolicy(settings.subscription_hosts, settings.env == "development")


def delivery_worker(
    settings: Settings, storage: Storage, http: httpx.AsyncClient, registries: ExternalRegistries
) -> DeliveryWorker:
    """The subscription delivery worker over `storage` (docs/events.md)."""
    return DeliveryWorker(
        storage,
        http,
        endpoints=endpoint_policy(settings),
        registries=registries,
        authorities=authorities(settings),
        settings=DeliverySettings(
            retry_horizon=timedelta(hours=settings.subscription_retry_hours),
            retry_base=timedelta(seconds=settings.subscription_retry_base_seconds),
            lease=timedelta(seconds=settings.subscription_lease_seconds),
            poll_seconds=settings.delivery_poll_seconds,
        ),
    )


def export_settings(settings: Settings) -> ExportSettings:
    return ExportSettings(
        directory=settings.export_dir,
        retention=timedelta(hours=settings.export_retention_hours),
        lease=timedelta(seconds=settings.export_lease_seconds),
        poll_seconds=settings.export_poll_seconds,
        page_size=settings.export_page_size,
    )


def export_worker(
    settings: Settings, storage: Storage, registries: ExternalRegistries
) -> ExportWorker:
    """The Bulk Data export worker over `storage` (docs/bulk.md)."""
    return ExportWorker(
        storage,
        settings=export_settings(settings),
        registries=registries,
        authorities=authorities(settings),
        cursor_key=settings.cursor_secret.encode() if settings.cursor_secret else None,
    )


def login_citizens() -> tuple[Citizen, ...]:
    """The demo citizens on the dev issuer's sign-in page: the portal's persona list."""
    return tuple(Citizen(p.key, p.name, p.cpr, p.description) for p in portal_personas())


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthService | None = None,
    registries: ExternalRegistries | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    check_deployment(settings)
    http = httpx.AsyncClient(timeout=settings.external_timeout_seconds, follow_redirects=False)
    registries = registries or external_registries(settings, http)
    service = build_service(settings, registries)
    worker = delivery_worker(settings, service.storage, http, registries)
    service.on_commit = worker.nudge
    exports = ExportService(service.storage, export_settings(settings))
    exporter = export_worker(settings, service.storage, registries)
    exports.on_queued = exporter.nudge
    auth_service = auth or build_auth_service(
        settings, engine=service.storage.engine, citizens=login_citizens()
    )

    @cache
    def capability() -> dict[str, Any]:
        return capability_statement(
            base_url=settings.base_url,
            version=__version__,
            release_date=RELEASE_DATE,
            # rest.security.cors: "Server adds CORS headers" (R4 capabilitystatement.html).
            security={**auth_service.capability_security(), "cors": bool(settings.cors_origins)},
            supported_profiles=service.conformance.profiles_by_type(),
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not settings.cursor_secret:
            secret = await service.storage.setting("cursor_secret")
            if secret is None:
                raise RuntimeError("The database is not migrated: run `esp-careplans db upgrade`")
            service.cursor_key = secret.encode()
        log.info("service started", extra={"database": service.storage.engine.dialect.name})
        stop = asyncio.Event()
        workers = (
            [
                asyncio.create_task(worker.run_forever(stop)),
                asyncio.create_task(exporter.run_forever(stop)),
            ]
            if settings.delivers_in_serve
            else []
        )
        yield
        stop.set()
        for running in workers:
            await running
        await auth_service.aclose()
        await http.aclose()
        await service.storage.dispose()

    app = FastAPI(
        title="esp-careplans",
        version=__version__,
        description="FHIR R4 (4.0.1) API for sharing Danish care plans. The FHIR base is /fhir.",
        lifespan=lifespan,
        redirect_slashes=False,
        # Production hides the API explorer unless ESP_DOCS=true (the document is in the repo);
        # its pages are ours, with assets served locally (app/api/api_docs.py).
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL if settings.docs_enabled else None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.auth = auth_service
    # Outermost last: request id → security headers → CORS → rate limits → HEAD/OPTIONS.
    app.add_middleware(MethodsMiddleware)
    limits = RateLimits(
        settings.rate_limit_window_seconds, settings.token_rate_limit, settings.auth_failure_limit
    )
    if limits.enabled:
        app.state.rate_limiter = RateLimiter(service.storage.engine, limits)
        app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter)
    if settings.cors_origins:
        app.add_middleware(
            CorsMiddleware,
            origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
        )
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)

    async def context(request: Request) -> RequestContext:
        """Authenticate once per request; nothing deeper reads headers (principle 2)."""
        principal = await auth_service.authenticate(request.headers.get("authorization"))
        return RequestContext(
            request_id=str(request.state.request_id),
            principal=principal,
            override_reason=_override_reason(request.headers.get("x-consent-override")),
        )

    app.include_router(auth_router)
    app.include_router(system_router(service.storage, capability))
    # Before the FHIR routes: `Patient/$export` would otherwise be read as a Patient id.
    app.include_router(export_router(exports, settings, context), prefix="/fhir")
    add_fhir_routes(app.router, service, settings, context)
    app.include_router(portal_router(settings))
    if settings.env == "development":
        app.include_router(dev_inbox_router(settings))
    app.mount("/portal/static", portal_static(), name="portal-static")
    if settings.docs_enabled:
        install_api_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _override_reason(header: str | None) -> str | None:
    """X-Consent-Override: the reason, percent-encoded UTF-8 (HTTP headers are ASCII)."""
    if not header:
        return None
    reason = unquote(header)
    check_storable(reason, "X-Consent-Override", "The X-Consent-Override reason")
    return reason


# The FHIR paths that need no token (SMART App Launch discovery, R4 capabilities).
_OPEN_PATHS = {"/fhir/metadata", "/fhir/.well-known/smart-configuration"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {}).update(component_schemas())
        components["responses"] = error_responses()
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "SMART on FHIR access token (docs/authorization.md)",
            }
        }
        for path, operations in schema["paths"].items():
            if path.startswith("/fhir") and path not in _OPEN_PATHS:
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def asgi() -> FastAPI:
    """Entry point for ASGI servers (`uvicorn --factory app.main:asgi`)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
