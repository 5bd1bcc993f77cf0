"""Rate limits on the token endpoint and on failed authentication (429 with Retry-After).

Counted in the database (`storage/rate_limits.py`), so every worker and node shares
them. Per window of `ESP_RATE_LIMIT_WINDOW_SECONDS`:

- `POST /auth/token`: at most `ESP_TOKEN_RATE_LIMIT` requests per client and per
  address, and none once that client or address has `ESP_AUTH_FAILURE_LIMIT` failed
  ones (an answer of 400 or 401). Refused with an OAuth error body.
- `/fhir`: a request whose bearer token fails (401) counts for its address; past
  `ESP_AUTH_FAILURE_LIMIT` such failures the answer is 429 with an OperationOutcome
  instead. Requests with a valid token are never counted or slowed (no database
  round trip on the success path).

The client of a token request is the `client_id` parameter or the `iss` of its
`client_assertion` (RFC 7523 §3: iss = client_id), read before verification: a
failing assertion proves nothing, so someone sending assertions in a client's name
can use up that client's window. That is the price of per-client limits; the window
is short and the address limit stops one sender. A failed bearer token names no
trustworthy client at all, so /fhir failures are counted per address only. Behind a
proxy the address is the one uvicorn takes from X-Forwarded-For for the proxies in
`FORWARDED_ALLOW_IPS`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fhir.outcome import error, operation_outcome
from app.storage.rate_limits import Window, add_hits, current

TOKEN_PATH = "/auth/token"  # noqa: S105 - a URL path, not a secret
_MAX_FORM_BYTES = 64 * 1024  # a token request is a few kB; larger ones are the route's to refuse


@dataclass(frozen=True, slots=True)
class RateLimits:
    window_seconds: float
    token_requests: int  # 0: unlimited
    auth_failures: int  # 0: unlimited

    @property
    def enabled(self) -> bool:
        return bool(self.token_requests or self.auth_failures)


def _key(kind: str, subject: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{subject}".encode()).hexdigest()


def _retry_after(windows: list[Window], now: float) -> int:
    return max(1, math.ceil(max(w.ends_at for w in windows) - now))


class RateLimiter:
    """Counts and judges; None means go ahead, a number the seconds to wait."""

    def __init__(
        self, engine: AsyncEngine, limits: RateLimits, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.clock = clock

    async def _over(
        self, kind: str, subjects: list[str], limit: int, now: float, *, count: bool
    ) -> list[Window]:
        """The counters of `kind` over `limit`; with `count`, after counting this hit.

        A hit is over when it is beyond the limit; a look (a token request checking
        failures) when the limit is already reached.
        """
        if not limit:
            return []
        keys = [_key(kind, s) for s in subjects]
        read = add_hits if count else current
        windows = await read(self.engine, keys, now=now, window_seconds=self.limits.window_seconds)
        return [w for w in windows if w.hits > limit or (not count and w.hits >= limit)]

    async def token_request(self, address: str, client: str | None) -> int | None:
        """Count a token request; the wait when it is over a limit."""
        now, subjects = self.clock(), _subjects(address, client)
        over = await self._over(
            "auth-failure", subjects, self.limits.auth_failures, now, count=False
        ) + await self._over("token", subjects, self.limits.token_requests, now, count=True)
        return _retry_after(over, now) if over else None

    async def failed(self, address: str, client: str | None = None) -> int | None:
        """Count a failed authentication; the wait when it took a counter over the limit."""
        now = self.clock()
        subjects = _subjects(address, client)
        over = await self._over(
            "auth-failure", subjects, self.limits.auth_failures, now, count=True
        )
        return _retry_after(over, now) if over else None


def _subjects(address: str, client: str | None) -> list[str]:
    return [f"address:{address}", *([f"client:{client}"] if client else [])]


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


def _assertion_issuer(assertion: str) -> str | None:
    """The unverified `iss` of a JWT (only to name the counter; never trusted)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer[:256] if isinstance(issuer, str) else None


def token_client(form: bytes) -> str | None:
    """The client a token request names: `client_id`, else its assertion's `iss`."""
    fields = dict(parse_qsl(form.decode("latin-1"), keep_blank_values=True))
    client_id = fields.get("client_id")
    if client_id:
        return client_id[:256]
    return _assertion_issuer(fields.get("client_assertion", ""))


async def _send_json(send: Send, status: int, body: bytes, retry_after: int, media: str) -> None:
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_many_token_requests(send: Send, retry_after: int) -> None:
    # RFC 6749 §5.2 has no code for this; `slow_down` is the registered token-endpoint
    # error for "slow down" (RFC 8628 §3.5, IANA OAuth Extensions Error registry).
    body = orjson.dumps(
        {
            "error": "slow_down",
            "error_description": f"too many token requests; retry after {retry_after} s",
        }
    )
    await _send_json(send, 429, body, retry_after, "application/json")


async def _too_many_failures(send: Send, retry_after: int) -> None:
    issue = error(
        "throttled",
        f"Too many failed authentications from this address; retry after {retry_after} s",
        rule="auth-failure-limit",
    )
    body = orjson.dumps(operation_outcome([issue]))
    await _send_json(send, 429, body, retry_after, "application/fhir+json; charset=utf-8")


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == TOKEN_PATH and scope["method"] == "POST":
            await self._token(scope, receive, send)
        elif scope["path"] == "/fhir" or scope["path"].startswith("/fhir/"):
            await self._fhir(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, messages = await _read_body(receive)
        address = _address(scope)
        client = token_client(body) if body is not None else None
        wait = await self.limiter.token_request(address, client)
        if wait is not None:
            await _too_many_token_requests(send, wait)
            return
        failed = [False]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (400, 401):
                failed[0] = True
            await send(message)

        await self.app(scope, _replay(messages, receive), watch)
        if failed[0]:
            await self.limiter.failed(address, client)

    async def _fhir(self, scope: Scope, receive: Receive, send: Send) -> None:
        throttled = [False]

        async def throttle_failures(message: Message) -> None:
            if throttled[0]:
                return  # the refused 401's body
            if message["type"] == "http.response.start" and message["status"] == 401:
                wait = await self.limiter.failed(_address(scope))
                if wait is not None:
                    throttled[0] = True
                    await _too_many_failures(send, wait)
                    return
            await send(message)

        await self.app(scope, receive, throttle_failures)


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The request body (None when over _MAX_FORM_BYTES) and the messages read so far,
    to hand on unchanged; a longer body is left for the route to read on."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > _MAX_FORM_BYTES:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
