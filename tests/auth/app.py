"""The smallest app around the auth router, for HTTP-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from app.access.principal import Principal
from app.api.routes_auth import authenticate, router
from app.auth.service import AuthService
from app.fhir.outcome import FhirError, operation_outcome

BASE_URL = "http://testserver/fhir"
TOKEN_URL = "http://testserver/auth/token"


def make_app(service: AuthService) -> FastAPI:
    """The smallest app that renders FhirError like the real one and has a protected route."""
    app = FastAPI()
    app.state.auth = service
    app.include_router(router)

    @app.exception_handler(FhirError)
    async def _fhir_error(request: Request, exc: FhirError) -> JSONResponse:
        return JSONResponse(operation_outcome(exc.issues), exc.status, headers=exc.headers)

    @app.get("/fhir/whoami")
    async def whoami(principal: Principal = Depends(authenticate)) -> dict[str, Any]:
        return {
            "user_type": principal.user_type,
            "org_sor": principal.org_sor,
            "acting_cpr": principal.acting_cpr,
            "citizen_cpr": principal.citizen_cpr,
            "relation": principal.relation,
            "scopes": str(principal.scopes),
            "issuer": principal.issuer,
            "subject": principal.subject,
            "client_id": principal.client_id,
        }

    return app


@asynccontextmanager
async def http(service: AuthService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
