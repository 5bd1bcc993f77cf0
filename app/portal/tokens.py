"""Access tokens for the signed-in citizen: from the dev issuer (development) or the IdP.

The portal never decides what a citizen may see: it asks for a token stating who
acts for whom (`dk_relation` self or custody) and the API applies the rules. In
development the token comes from `POST /auth/dev-token`, called in process like the
FHIR API (the portal may not import app.auth: it depends on app.access).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp

from app.portal.config import CITIZEN_SCOPES, CUSTODY_SCOPES

MIN_LIFETIME, MAX_LIFETIME = 60, 3600
DEV_TOKEN_PATH = "/auth/dev-token"  # noqa: S105 (a path)


class TokenUnavailable(Exception):
    """The issuer gave no token (dev issuer off, or claims refused)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


# child CPR -> a custody token for that child (the API still verifies the custody).
ChildTokens = Callable[[str], Awaitable[IssuedToken]]


async def dev_token(
    app: ASGIApp, origin: str, acting_cpr: str, citizen_cpr: str, lifetime: int
) -> IssuedToken:
    """A persona token from the development issuer (docs/authorization.md, /auth/dev-token)."""
    self_ = acting_cpr == citizen_cpr
    claims = {
        "dk_user_type": "citizen",
        "dk_acting_cpr": acting_cpr,
        "dk_citizen_cpr": citizen_cpr,
        "dk_relation": "self" if self_ else "custody",
        "scope": CITIZEN_SCOPES if self_ else CUSTODY_SCOPES,
        "client_id": "esp-portal",
        "expires_in": max(MIN_LIFETIME, min(MAX_LIFETIME, lifetime)),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=origin) as client:
        answer = await client.post(DEV_TOKEN_PATH, json=claims)
    if answer.status_code != 200:
        raise TokenUnavailable(f"{DEV_TOKEN_PATH} answered {answer.status_code}")
    body = answer.json()
    return IssuedToken(str(body["access_token"]), int(body["expires_in"]))


def dev_child_tokens(app: ASGIApp, origin: str, parent_cpr: str, lifetime: int) -> ChildTokens:
    async def child(child_cpr: str) -> IssuedToken:
        return await dev_token(app, origin, parent_cpr, child_cpr, lifetime)

    return child
