"""HTTP endpoints of the authorization side and the `authenticate` dependency.

Translation only: the logic lives in `app.auth` (docs/authorization.md).
- GET|POST /auth/authorize: SMART App Launch authorization endpoint and sign-in pages
- POST /auth/token: client_credentials (RFC 7523), authorization_code and refresh_token
- POST /auth/dev-token: persona tokens, development only (404 otherwise)
- GET  /auth/jwks.json: the dev issuer's public keys (RFC 7517 §5)
- GET  /fhir/.well-known/smart-configuration: SMART App Launch v2 discovery
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from app.access.principal import Principal
from app.api.authorize_pages import error_page, render_outcome
from app.auth.app_launch import REQUEST_FIELD, AppLaunch
from app.auth.oauth import NO_STORE, OAuthError
from app.auth.service import AuthService
from app.fhir.outcome import not_found

FORM = "application/x-www-form-urlencoded"


def auth_service(request: Request) -> AuthService:
    """The AuthService the app built at startup (`app.state.auth`)."""
    service = getattr(request.app.state, "auth", None)
    if not isinstance(service, AuthService):
        raise RuntimeError("app.state.auth is not set: build_auth_service() in the lifespan")
    return service


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the request's bearer token as a Principal (401/503 FhirError)."""
    return await auth_service(request).authenticate(request.headers.get("authorization"))


def _launch(request: Request) -> AppLaunch:
    issuer = auth_service(request).dev_issuer
    if issuer is None or issuer.launch is None:
        raise HTTPException(404)
    return issuer.launch


def _oauth(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _oauth_error(exc: OAuthError) -> JSONResponse:
    return _oauth(exc.body(), exc.status)


_OBJECT = {"schema": {"type": "object"}}
_OAUTH = {"application/json": _OBJECT}  # RFC 6749 §5.1, §5.2
_HTML = {"text/html": {"schema": {"type": "string"}}}
_OUTCOME = {"application/fhir+json": {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
_NOT_HERE = {"description": "No such issuer or discovery here", "content": _OUTCOME}
_RETRY = {"Retry-After": {"schema": {"type": "integer"}, "required": True}}
_THROTTLED = {"description": "Rate-limited", "content": _OAUTH, "headers": _RETRY}


def _docs(*codes: int, ok: dict[str, Any] = _OAUTH) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an authorization-server route: OAuth JSON errors, OperationOutcome 404."""
    texts = {
        200: ("OK", ok),
        302: ("Redirect to the client (SMART App Launch)", None),
        303: ("Redirect to the client after a form post", None),
        400: ("OAuth error (RFC 6749 §5.2)", {**_OAUTH, **ok}),
        401: ("invalid_client (RFC 6749 §5.2)", _OAUTH),
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        text, content = texts[code]
        responses[code] = {"description": text, **({"content": content} if content else {})}
    responses[404] = _NOT_HERE
    return responses


def make_router(*, auth_path: str = "/auth", fhir_path: str = "/fhir") -> APIRouter:
    """The router; include it before any FHIR catch-all route such as /fhir/{type}/{id}."""
    router = APIRouter(tags=["authorization"])

    @router.post(f"{auth_path}/token", responses=_docs(200, 400, 401) | {429: _THROTTLED})
    async def token(request: Request) -> Response:
        issuer = auth_service(request).dev_issuer
        if issuer is None:
            raise HTTPException(404)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            return _oauth_error(OAuthError("invalid_request", f"send {FORM}"))
        form = await request.form()
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if len(items) != len(form.multi_items()):
            return _oauth_error(OAuthError("invalid_request", "file parameters are not allowed"))
        try:
            return _oauth(await issuer.token(items))
        except OAuthError as exc:
            return _oauth_error(exc)

    @router.get(f"{auth_path}/authorize", responses=_docs(200, 302, 400, ok=_HTML))
    async def authorize(request: Request) -> Response:
        launch = _launch(request)
        outcome = await launch.authorize(request.query_params.multi_items())
        return render_outcome(request, outcome, launch.authorization_url)

    @router.post(f"{auth_path}/authorize", responses=_docs(200, 303, 400, ok=_HTML))
    async def authorize_post(request: Request) -> Response:
        """SMART `authorize-post`, and the sign-in pages' forms."""
        launch = _launch(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            return error_page(request, "invalid_request", f"send {FORM}")
        form = await request.form()
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if REQUEST_FIELD in form:
            outcome = await launch.authorize((), dict(items))
        else:
            outcome = await launch.authorize(items)
        return render_outcome(request, outcome, launch.authorization_url)

    @router.post(f"{auth_path}/dev-token", responses=_docs(200, 400))
    async def dev_token(request: Request) -> Response:
        issuer = auth_service(request).dev_token_issuer
        if issuer is None:
            raise HTTPException(404)
        try:
            body = await request.json()
        except ValueError:
            return _oauth_error(OAuthError("invalid_request", "the body must be JSON"))
        try:
            return _oauth(issuer.dev_token(body))
        except OAuthError as exc:
            return _oauth_error(exc)

    @router.get(f"{auth_path}/jwks.json", responses=_docs(200))
    async def jwks(request: Request) -> Response:
        issuer = auth_service(request).dev_issuer
        if issuer is None:
            raise HTTPException(404)
        return JSONResponse(issuer.public_jwks(), headers={"Cache-Control": "public, max-age=300"})

    @router.get(f"{fhir_path}/.well-known/smart-configuration", responses=_docs(200))
    async def smart_configuration(request: Request) -> Response:
        config = auth_service(request).smart_configuration()
        if config is None:
            raise not_found("no authorization server is configured for discovery")
        return JSONResponse(config, headers={"Cache-Control": "public, max-age=300"})

    return router


router = make_router()
