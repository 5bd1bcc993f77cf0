"""Authorization codes and refresh tokens of the development issuer, kept in the database.

Tokens are 256-bit random strings; only their SHA-256 is stored (`oauth_grant`), so a
copy of the table redeems nothing. Codes live 60 s (RFC 6749 §4.1.2 recommends at most
10 minutes) and are single use; refresh tokens rotate on every use (RFC 9700 §4.14.2).
A code or refresh token presented a second time revokes every refresh token of its
authorization (its family): RFC 6749 §4.1.2 and §10.4.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.oauth import OAuthError
from app.storage.oauth_grants import GrantKind, Replayed, put_grant, revoke_family, take_grant

CODE_LIFETIME = 60
OFFLINE_LIFETIME = 30 * 24 * 3600  # offline_access: 30 days from sign-in
ONLINE_LIFETIME = 8 * 3600  # online_access: a working day; no SSO session to follow in dev


@dataclass(frozen=True, slots=True)
class Grant:
    """What one sign-in authorized: the client, the scopes and the patient it is bound to."""

    client_id: str
    scope: str
    acting_cpr: str
    citizen_cpr: str
    relation: Literal["self", "custody"]
    patient_id: str
    fhir_user: str
    auth_time: int
    family: str = ""
    nonce: str | None = None
    # Only for codes (RFC 6749 §4.1.3, RFC 7636 §4.6).
    redirect_uri: str = ""
    redirect_uri_sent: bool = True
    code_challenge: str = ""
    # Only for refresh tokens: when the family stops being refreshable (absolute).
    refresh_until: float = 0.0


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class GrantStore:
    """Issue and redeem codes and refresh tokens, each step in its own committed transaction.

    A redeemed token stays used, and a replay stays revoked, whatever the rest of the
    token request does: a code burnt by a wrong code_verifier cannot be tried again.
    """

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def issue_code(self, grant: Grant) -> str:
        family = secrets.token_urlsafe(24)
        return await self._put("code", replace(grant, family=family), self._clock() + CODE_LIFETIME)

    async def issue_refresh(self, grant: Grant) -> str:
        return await self._put("refresh", grant, grant.refresh_until)

    async def redeem(self, kind: GrantKind, token: str, client_id: str | None) -> Grant:
        """The grant behind a code or refresh token, used up; `OAuthError` invalid_grant.

        `client_id` None: the caller checks the grant's client (a public client's refresh).
        """
        what = "authorization code" if kind == "code" else "refresh token"
        if not token or len(token) > 256:
            raise OAuthError("invalid_request", f"the {what} is missing or malformed")
        error = None
        async with self._engine.begin() as conn:
            found = await take_grant(conn, _hash(token), kind, self._clock())
            if isinstance(found, Replayed):
                await revoke_family(conn, found.family)
                error = f"the {what} was already used; its grant is revoked"
            elif found is None:
                error = f"unknown or expired {what}"
            elif (
                client_id is not None and found.client_id != client_id
            ):  # RFC 6749 §4.1.3, §6: bound to the client
                await revoke_family(conn, found.family)
                error = f"the {what} was issued to another client; its grant is revoked"
        if error is not None or found is None or isinstance(found, Replayed):
            raise OAuthError("invalid_grant", error or f"unknown or expired {what}")
        return Grant(**found.data)

    async def revoke(self, grant: Grant) -> None:
        async with self._engine.begin() as conn:
            await revoke_family(conn, grant.family)

    async def _put(self, kind: GrantKind, grant: Grant, until: float) -> str:
        token = secrets.token_urlsafe(32)
        async with self._engine.begin() as conn:
            await put_grant(
                conn,
                id_hash=_hash(token),
                kind=kind,
                family=grant.family,
                client_id=grant.client_id,
                data=asdict(grant),
                expires_at=until,
                now=self._clock(),
            )
        return token
