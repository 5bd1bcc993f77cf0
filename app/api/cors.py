"""CORS for browser apps on the configured origins (Fetch standard, "CORS protocol").

Only /fhir and /auth, only for origins in `ESP_CORS_ORIGINS` (none by default). A
preflight from an allowed origin is answered here with the methods and request
headers a FHIR client sends; an actual request gets `Access-Control-Allow-Origin`
and exposes the headers FHIR clients read (Location, ETag, ...). A request from any
other origin gets no CORS header at all, so the browser keeps its answer from the
page. Bearer tokens travel in `Authorization`, which needs no credentials mode;
`ESP_CORS_ALLOW_CREDENTIALS` (cookies) is allowed only with listed origins, never
with `*` (refused at startup, app/deployment.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.asgi_headers import Headers, header, in_api, with_headers

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, "
    "If-Modified-Since, Prefer, X-Consent-Override, X-Request-Id"
)
EXPOSE_HEADERS = (
    "Location, Content-Location, ETag, Last-Modified, X-Request-Id, WWW-Authenticate, "
    "Retry-After, X-Progress"
)
MAX_AGE_SECONDS = 600
_EXPOSE = EXPOSE_HEADERS.encode()
_PREFLIGHT = [
    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
    (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
    (b"content-length", b"0"),
]


class CorsMiddleware:
    def __init__(
        self, app: ASGIApp, *, origins: Sequence[str], allow_credentials: bool = False
    ) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins if o != "*")
        self.allow_credentials = allow_credentials and not self.any_origin

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _common(self, origin: str) -> Headers:
        allowed = b"*" if self.any_origin else origin.encode("latin-1")
        headers: Headers = [(b"access-control-allow-origin", allowed)]
        if self.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not in_api(scope):
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if origin is None or not self.allows(origin):
            # The answer differs by Origin: a shared cache must not hand it to another one.
            await self.app(scope, receive, _vary_by_origin(send))
            return
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            headers = [*self._common(origin), (b"vary", b"Origin"), *_PREFLIGHT]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = [*self._common(origin), (b"access-control-expose-headers", _EXPOSE)]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_headers(message, extra, replace=True)
            await send(message)

        await self.app(scope, receive, _vary_by_origin(send_with_cors))


def _vary_by_origin(send: Send) -> Send:
    """`send` with `Origin` added to the response's Vary header (RFC 9110 §12.5.5)."""

    async def varied(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            values = [v for k, v in headers if k.lower() == b"vary"]
            merged = b", ".join([*values, b"Origin"]) if values else b"Origin"
            headers = [(k, v) for k, v in headers if k.lower() != b"vary"] + [(b"vary", merged)]
            message = {**message, "headers": headers}
        await send(message)

    return varied
