"""The development issuer's sign-in pages (Danish), rendered from an authorize outcome.

No script, no styles from elsewhere, never framed, never cached: the pages carry an
authorization request and show who can be signed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.auth.app_launch import AuthorizeOutcome, ErrorPage, LoginPage, PickerPage, Redirect
from app.auth.authorize import AuthorizationRequest

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def render_outcome(request: Request, outcome: AuthorizeOutcome, action: str) -> Response:
    """The HTTP answer: a redirect to the app, a sign-in page, or an error page."""
    if isinstance(outcome, Redirect):
        # 303 after a form post makes the browser GET the app's redirect URI.
        status = 303 if request.method == "POST" else 302
        return _secure(RedirectResponse(outcome.location, status_code=status))
    if isinstance(outcome, ErrorPage):
        return error_page(request, outcome.error, outcome.description)
    if isinstance(outcome, LoginPage):
        return _page(
            "authorize_login.html",
            outcome.request,
            action,
            title="Log ind",
            citizens=outcome.citizens,
        )
    return _picker(outcome, action)


def _picker(outcome: PickerPage, action: str) -> Response:
    return _page(
        "authorize_picker.html",
        outcome.request,
        action,
        title="Vælg person",
        citizen=outcome.citizen,
        subjects=outcome.subjects,
    )


def error_page(request: Request, error: str, description: str, status: int = 400) -> Response:
    """RFC 6749 §4.1.2.1: an error that cannot go back to the app is shown (HTML or JSON)."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        body = {"error": error, "error_description": description}
        return _secure(JSONResponse(body, status_code=status))
    html = _templates.get_template("authorize_error.html").render(
        title="Login kan ikke gennemføres", error=error, description=description
    )
    return _secure(HTMLResponse(html, status_code=status))


def _page(name: str, auth: AuthorizationRequest, action: str, **context: Any) -> Response:
    html = _templates.get_template(name).render(
        action=action,
        request_query=auth.query,
        app_name=auth.client.client_name or auth.client.client_id,
        **context,
    )
    return _secure(HTMLResponse(html))


def _secure(response: Response) -> Response:
    response.headers.update(PAGE_HEADERS)
    return response
