"""HEAD and OPTIONS on every route (RFC 9110 §9.3.2, §9.3.7).

HEAD runs the GET route and drops the body, so its headers (ETag, Last-Modified,
Content-Type, Content-Length) are exactly those of the GET. OPTIONS on /fhir and /auth
answers 204 with an `Allow` header listing the methods the path's routes take; a CORS preflight from
an allowed origin is answered before this (app/api/cors.py). A 405 carries the same `Allow`
(RFC 9110 §15.5.6): the router would name only the methods of the first route it found.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.asgi_headers import in_api, with_headers

# Set in the scope of a GET that answers a HEAD: a GET with side effects refuses it.
HEAD_OF_GET = "esp.head"
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods the routes take at this path (HEAD wherever GET; OPTIONS if any).

    Asked of the routes themselves (`matches` with each method), so included routers,
    however FastAPI nests them, answer for their own routes.
    """
    methods = {
        method
        for method in _PROBED
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    if methods:
        methods.add("OPTIONS")
    return [m for m in _ORDER if m in methods]


class MethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "HEAD":
            await self._head(scope, receive, send)
        elif scope["method"] == "OPTIONS" and in_api(scope):
            await self._options(scope, receive, send)
        else:
            await self.app(scope, receive, self._allow_on_405(scope, send))

    @staticmethod
    def _allow_on_405(scope: Scope, send: Send) -> Send:
        async def allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(scope["app"].router.routes, scope)
                if methods:
                    message = with_headers(
                        message, [(b"allow", ", ".join(methods).encode())], replace=True
                    )
            await send(message)

        return allow

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(
            {**scope, "method": "GET", HEAD_OF_GET: True},
            receive,
            self._allow_on_405(scope, without_body),
        )

    async def _options(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = allowed_methods(scope["app"].router.routes, scope)
        if not methods:  # no such path: the app answers its 404
            await self.app(scope, receive, send)
            return
        headers = [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
