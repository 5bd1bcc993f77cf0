"""The portal's router and static files, mounted by app.main."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from app.portal.config import OidcSettings, PortalConfig
from app.portal.oidc import OidcLogin
from app.portal.pages import page_routes
from app.portal.sessions import SessionStore
from app.portal.signin import signin_routes
from app.portal.web import HERE, Portal
from app.settings import Settings

STATIC_PATH = "/portal/static"


def portal_router(
    settings: Settings,
    *,
    oidc: OidcSettings | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
) -> APIRouter:
    """All /portal routes; OIDC login is on when ESP_OIDC_* configure an IdP."""
    config = PortalConfig.from_settings(settings, oidc)
    portal = Portal(config, SessionStore(config.database_url, config.session_secret))
    login = OidcLogin(config.oidc, oidc_transport) if config.oidc.configured else None
    router = APIRouter(include_in_schema=False)
    router.include_router(signin_routes(portal, login), prefix="/portal")
    router.include_router(page_routes(portal), prefix="/portal")
    return router


def portal_static() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")
