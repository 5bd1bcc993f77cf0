"""Sign-in and sign-out: the persona page (development) and OpenID Connect (production).

A login always starts a new session (new id: no session fixation); the anonymous
session that carried the login form's CSRF token or the OIDC state is deleted.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from app.portal import csrf
from app.portal.children import discover, patient_name
from app.portal.fhir_client import FhirClient, FhirRefusal
from app.portal.oidc import OidcError, OidcLogin
from app.portal.personas import persona, personas
from app.portal.sessions import ANONYMOUS_MAX_AGE, Session
from app.portal.tokens import (
    ChildTokens,
    IssuedToken,
    TokenUnavailable,
    dev_child_tokens,
    dev_token,
)
from app.portal.web import Portal, cpr_hash, redirect, secure


async def _anonymous(portal: Portal, request: Request) -> tuple[Session, bool]:
    session = await portal.session(request)
    if session is not None:
        return session, False
    return await portal.store.create({}, ANONYMOUS_MAX_AGE), True


async def start_session(
    portal: Portal,
    request: Request,
    *,
    name: str,
    acting_cpr: str,
    token: IssuedToken,
    candidates: list[tuple[str, str]],
    child_tokens: ChildTokens,
) -> Response:
    """Look the citizen up through the API, find their children, and set the cookie."""
    app, base = request.app, portal.config.base_url
    request_id = str(getattr(request.state, "request_id", ""))
    async with FhirClient(app, base, token.access_token, request_id) as fhir:
        try:
            patients = await fhir.search("Patient")
        except FhirRefusal:
            patients = []
    me = patients[0]["resource"] if patients else {}
    children = await discover(app, base, candidates, child_tokens, request_id)
    lifetime = min(portal.config.max_age, token.expires_in)
    data: dict[str, Any] = {
        "name": patient_name(me) if me else name,
        "token": token.access_token,
        "who": cpr_hash(acting_cpr),
        "patient_id": me.get("id"),
        "birth_date": me.get("birthDate"),
        "children": children,
        "signed_in_at": time.time(),
    }
    old = await portal.session(request)
    if old is not None:
        await portal.store.delete(old)
    session = await portal.store.create(data, lifetime)
    response = redirect("/portal/planer")
    portal.set_cookie(response, session, lifetime)
    return response


def signin_routes(portal: Portal, oidc: OidcLogin | None) -> APIRouter:
    router = APIRouter()
    config = portal.config

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        session, new = await _anonymous(portal, request)
        insecure_local = config.cookie_secure and request.url.scheme == "http"
        response = portal.render(
            request,
            "login.html",
            session,
            personas=personas() if config.dev_issuer else (),
            oidc=oidc is not None,
            insecure_local=insecure_local and config.development,
            ended=request.query_params.get("udlobet") == "1",
        )
        if new:
            portal.set_cookie(response, session, ANONYMOUS_MAX_AGE)
        return response

    @router.post("/login")
    async def login_persona(request: Request) -> Response:
        if not config.dev_issuer:
            raise HTTPException(404)
        session = await portal.session(request)
        form = await request.form()
        if (
            session is None
            or not csrf.same_origin(request, config.origin)
            or not csrf.valid(session.csrf, form.get(csrf.FIELD))
        ):
            return portal.render(request, "error.html", None, 403, **FORBIDDEN_FORM)
        chosen = persona(str(form.get("persona", "")))
        if chosen is None:
            raise HTTPException(400)
        try:
            token = await dev_token(
                request.app, config.origin, chosen.cpr, chosen.cpr, config.max_age
            )
        except TokenUnavailable as exc:
            return portal.render(request, "error.html", None, 502, **login_failed(exc))
        return await start_session(
            portal,
            request,
            name=chosen.name,
            acting_cpr=chosen.cpr,
            token=token,
            candidates=[(c.cpr, c.name) for c in chosen.children],
            child_tokens=dev_child_tokens(request.app, config.origin, chosen.cpr, config.max_age),
        )

    @router.get("/login/oidc")
    async def login_oidc(request: Request) -> Response:
        if oidc is None:
            raise HTTPException(404)
        session, new = await _anonymous(portal, request)
        try:
            auth = await oidc.authorization()
        except (OidcError, ValueError, OSError) as exc:
            return portal.render(request, "error.html", None, 502, **login_failed(exc))
        session.data["oidc"] = {
            "state": auth.state,
            "nonce": auth.nonce,
            "verifier": auth.code_verifier,
        }
        await portal.store.save(session)
        response = redirect(auth.url)
        if new:
            portal.set_cookie(response, session, ANONYMOUS_MAX_AGE)
        return response

    @router.get("/login/callback")
    async def login_callback(request: Request) -> Response:
        if oidc is None:
            raise HTTPException(404)
        session = await portal.session(request)
        pending = (session.data.get("oidc") if session else None) or {}
        state, code = request.query_params.get("state"), request.query_params.get("code")
        if not pending or not code or not csrf.valid(pending.get("state", ""), state):
            return portal.render(request, "error.html", None, 400, **login_failed(None))
        try:
            signin = await oidc.finish(code, pending["verifier"], pending["nonce"])
        except (OidcError, ValueError, OSError, KeyError) as exc:
            return portal.render(request, "error.html", None, 502, **login_failed(exc))
        claims = signin.claims
        acting = str(claims.get("dk_acting_cpr", ""))
        kids = claims.get("dk_children") or []
        candidates = [
            (str(k.get("cpr")), str(k.get("name") or "Barn"))
            for k in kids
            if isinstance(k, dict) and k.get("cpr")
        ]
        return await start_session(
            portal,
            request,
            name=str(claims.get("name") or ""),
            acting_cpr=acting,
            token=signin.token,
            candidates=candidates,
            child_tokens=oidc.child_tokens(signin.token.access_token, config.base_url),
        )

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await portal.session(request)
        form = await request.form()
        if session is None:
            return redirect("/portal/login")
        if not csrf.same_origin(request, config.origin) or not csrf.valid(
            session.csrf, form.get(csrf.FIELD)
        ):
            return portal.render(request, "error.html", session, 403, **FORBIDDEN_FORM)
        await portal.store.delete(session)
        response = redirect("/portal/login")
        portal.clear_cookie(response)
        return secure(response)

    return router


FORBIDDEN_FORM = {
    "title": "Formularen er udløbet",
    "message": "Siden var for gammel, eller formularen kom ikke fra portalen. Prøv igen.",
    "back": "/portal/login",
}


def login_failed(exc: Exception | None) -> dict[str, str]:
    del exc  # never shown: it may name IdP internals
    return {
        "title": "Login mislykkedes",
        "message": "Vi kunne ikke gennemføre dit login. Prøv igen om lidt.",
        "back": "/portal/login",
    }
