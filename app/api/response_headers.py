"""Headers on every /fhir and /auth response: patient data is never cached or sniffed.

`Cache-Control: no-store` unless the route chose its own (the public discovery
documents and keys say `public, max-age=300`); `X-Content-Type-Options: nosniff`
so a browser never renders a FHIR body as something else. The `Server` banner is
switched off where the server is started (`esp-careplans serve`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.asgi_headers import in_api, with_headers

_DEFAULTS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


class ResponseHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not in_api(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_headers(message, _DEFAULTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
