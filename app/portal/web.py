"""Rendering and the signed-in session: templates, security headers, cookies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.portal.config import PortalConfig
from app.portal.sessions import Session, SessionStore

HERE = Path(__file__).resolve().parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    # No inline script or style, no framing, forms post only to us (CSP Level 3).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer Chrome sends `Origin: null` on our own
    # form posts, which the CSRF origin check must refuse.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def cpr_hash(cpr: str) -> str:
    """The session keeps a hash of the user's CPR number to recognise them in Min log."""
    return hashlib.sha256(cpr.encode()).hexdigest()


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


@dataclass
class Portal:
    """Everything a portal handler needs: configuration and the session store."""

    config: PortalConfig
    store: SessionStore

    async def session(self, request: Request) -> Session | None:
        return await self.store.load(request.cookies.get(self.config.cookie_name))

    async def signed_in(self, request: Request) -> Session | None:
        session = await self.session(request)
        return session if session is not None and session.signed_in else None

    def set_cookie(self, response: Response, session: Session, max_age: int) -> None:
        response.set_cookie(
            self.config.cookie_name,
            session.sid,
            max_age=max_age,
            path="/" if self.config.cookie_secure else "/portal",
            secure=self.config.cookie_secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.config.cookie_name,
            path="/" if self.config.cookie_secure else "/portal",
            secure=self.config.cookie_secure,
            httponly=True,
            samesite="lax",
        )

    def render(
        self,
        request: Request,
        name: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        data = session.data if session else {}
        html = templates.get_template(name).render(
            request_path=request.url.path,
            csrf_token=session.csrf if session else "",
            user_name=data.get("name") if session and session.signed_in else None,
            has_children=bool(data.get("children")),
            development=self.config.development,
            **context,
        )
        return secure(HTMLResponse(html, status_code=status))
