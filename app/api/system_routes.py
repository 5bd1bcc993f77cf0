"""Operational and discovery routes: /healthz, /readyz, /fhir/metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.negotiation import pretty_requested, render, response_media_type
from app.fhir.outcome import FhirError
from app.storage.unit_of_work import Storage


def system_router(storage: Storage, capability: Callable[[], dict[str, Any]]) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["Operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", tags=["Operations"], summary="Readiness: the database answers")
    async def readyz() -> dict[str, str]:
        try:
            await storage.ping()
        except Exception as exc:  # any driver error means "not ready"
            raise FhirError.of(503, "transient", "The database is not reachable") from exc
        await storage.check_access_rows()  # 503 while a migration's rebuild is pending
        return {"status": "ready"}

    @router.get(
        "/fhir/metadata",
        tags=["System"],
        summary="The CapabilityStatement (generated from the server's registries)",
        responses={
            200: {
                "content": {
                    "application/fhir+json": {
                        "schema": {"$ref": "#/components/schemas/CapabilityStatement"}
                    }
                }
            }
        },
    )
    async def metadata(request: Request) -> Response:
        return render(
            capability(),
            200,
            media_type=response_media_type(request),
            pretty=pretty_requested(request),
        )

    return router
