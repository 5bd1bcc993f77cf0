"""The embedded development issuer: token endpoint, SMART App Launch and dev tokens.

Enabled only in development (`Settings.dev_issuer_enabled`; `check_startup` refuses
production). It issues access tokens for registered backend clients
(client_credentials + private_key_jwt, SMART backend-services.html; RFC 6749 §4.4;
RFC 7523), for apps through the authorization code flow (`app_launch.py`, when it has
a database) and, for manual testing, tokens for personas (`dev_token`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key, KeySet, import_key
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.principal import InvalidClaims, Principal
from app.auth.app_launch import AppLaunch
from app.auth.assertions import CLIENT_ASSERTION_TYPE, ClientAssertionVerifier, ReplayCache
from app.auth.clients import ClientRegistry, RegisteredClient
from app.auth.jwks import StaticJwks
from app.auth.launch import Citizen
from app.auth.oauth import OAuthError, token_response

MIN_LIFETIME, MAX_LIFETIME = 300, 3600
DEV_TOKEN_MIN_LIFETIME = 60
# Claims a caller of /auth/dev-token may set; iss, aud, iat, exp and jti are ours.
DEV_TOKEN_FIELDS = frozenset(
    {
        "dk_user_type",
        "scope",
        "sub",
        "client_id",
        "dk_org_sor",
        "dk_org_kommunekode",
        "dk_org_ydernummer",
        "dk_org_region",
        "dk_acting_cpr",
        "dk_authorization_id",
        "dk_citizen_cpr",
        "dk_relation",
        "dk_consent_override",
        "dk_override_reason",
        "expires_in",
    }
)


def issuer_url(base_url: str) -> str:
    """`<base_url without a trailing /fhir>/auth`, e.g. http://h:8080/fhir -> http://h:8080/auth."""
    base = base_url.rstrip("/")
    return f"{base.removesuffix('/fhir')}/auth"


class DevIssuer:
    """Signs access tokens with the in-process key; the validator trusts it directly."""

    def __init__(
        self,
        base_url: str,
        key: Key,
        clients: ClientRegistry,
        *,
        access_token_lifetime: int = MIN_LIFETIME,
        replay: ReplayCache | None = None,
        clock: Callable[[], float] = time.time,
        engine: AsyncEngine | None = None,
        citizens: Sequence[Citizen] = (),
        custody_authorities: frozenset[str] = frozenset(),
    ) -> None:
        if not MIN_LIFETIME <= access_token_lifetime <= MAX_LIFETIME:
            raise ValueError(f"access_token_lifetime must be {MIN_LIFETIME}..{MAX_LIFETIME} s")
        alg = key.get("alg")
        if not key.is_private or alg not in ("ES384", "RS384"):
            raise ValueError("the dev issuer signs with a private ES384 or RS384 key")
        key.ensure_kid()
        self.audience = base_url.rstrip("/")
        self.issuer = issuer_url(base_url)
        self.token_url = f"{self.issuer}/token"
        self.jwks_url = f"{self.issuer}/jwks.json"
        self.clients = clients
        self.access_token_lifetime = access_token_lifetime
        self._key = key
        self._alg: str = alg
        self._public = KeySet([import_key(key.as_dict(private=False))])
        self._clock = clock
        self.assertions = ClientAssertionVerifier(
            clients, self.token_url, replay=replay, clock=clock
        )
        # The authorization code flow needs the database (custody facts, codes, refresh tokens).
        self.launch = (
            AppLaunch(self, engine, citizens, custody_authorities=custody_authorities, clock=clock)
            if engine
            else None
        )

    def public_jwks(self) -> dict[str, Any]:
        """The public JWKS served at /auth/jwks.json (RFC 7517 §5)."""
        return dict(self._public.as_dict())

    def jwks_source(self) -> StaticJwks:
        """The in-process key source the token validator uses (no HTTP round trip)."""
        return StaticJwks(self._public)

    async def token(self, form: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """Answer a token request (RFC 6749 §3.2); raises `OAuthError` (§5.2)."""
        params: dict[str, str] = {}
        for name, value in form:
            if name in params:  # RFC 6749 §3.2: parameters MUST NOT repeat
                raise OAuthError("invalid_request", f"parameter {name} is repeated")
            params[name] = value
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type == "client_credentials":
            return self.client_credentials(params)
        if self.launch is None or grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"{grant_type} is not supported")
        anonymous = not {"client_id", "client_assertion", "client_assertion_type"} & set(params)
        if grant_type == "refresh_token" and anonymous:
            return await self.launch.refresh(None, params)
        client = self._app_client(params)
        if grant_type not in client.grant_types:
            raise OAuthError(
                "unauthorized_client", f"{grant_type} is not registered for the client"
            )
        if grant_type == "authorization_code":
            return await self.launch.exchange_code(client, params)
        return await self.launch.refresh(client, params)

    def client_credentials(self, params: Mapping[str, str]) -> dict[str, Any]:
        """SMART Backend Services (RFC 6749 §4.4.2): private_key_jwt, registered scopes."""
        assertion = params.get("client_assertion")
        if params.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not assertion:
            raise OAuthError(
                "invalid_client",
                f"authenticate with client_assertion_type={CLIENT_ASSERTION_TYPE} "
                "and a client_assertion (private_key_jwt)",
            )
        client = self.assertions.verify(assertion, params.get("client_id"))
        if client.is_app:
            raise OAuthError("unauthorized_client", "client_credentials is not registered")
        # RFC 6749 §3.3: no scope means the registered scopes; scopes the client may not
        # have (e.g. the launch/patient some libraries add) are left out of the grant.
        requested = params.get("scope", "").strip()
        granted = client.grant(requested) if requested else client.scope
        if not granted.scopes:
            raise OAuthError(
                "invalid_scope", f"none of the requested scopes is registered: {requested}"
            )
        scope = str(granted)
        claims: dict[str, Any] = {
            "sub": client.client_id,
            "client_id": client.client_id,
            "scope": scope,
            "dk_user_type": "system",
            **client.org,
        }
        return token_response(
            self.sign(claims, self.access_token_lifetime), self.access_token_lifetime, scope
        )

    def _app_client(self, params: Mapping[str, str]) -> RegisteredClient:
        """A confidential app by its client assertion, a public one by its client_id (§2.3)."""
        if "client_assertion" in params or "client_assertion_type" in params:
            if params.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                raise OAuthError(
                    "invalid_client", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
                )
            client = self.assertions.verify(
                params.get("client_assertion", ""), params.get("client_id")
            )
        else:
            found = self.clients.get(params.get("client_id", ""))
            if found is None or not found.is_public:
                raise OAuthError(
                    "invalid_client",
                    "unknown public client; confidential clients send a client_assertion",
                )
            client = found
        if not client.is_app:
            raise OAuthError(
                "unauthorized_client", "the client is registered for client_credentials"
            )
        return client

    def dev_token(self, body: object) -> dict[str, Any]:
        """Mint a persona token from its claims, refused unless they make a valid Principal."""
        if not isinstance(body, Mapping):
            raise OAuthError("invalid_request", "the body must be a JSON object of claims")
        unknown = sorted(set(body) - DEV_TOKEN_FIELDS)
        if unknown:
            raise OAuthError("invalid_request", f"unknown fields: {', '.join(unknown)}")
        lifetime = body.get("expires_in", MAX_LIFETIME)
        if (
            not isinstance(lifetime, int)
            or isinstance(lifetime, bool)
            or not (DEV_TOKEN_MIN_LIFETIME <= lifetime <= MAX_LIFETIME)
        ):
            raise OAuthError(
                "invalid_request", f"expires_in must be {DEV_TOKEN_MIN_LIFETIME}..{MAX_LIFETIME}"
            )
        claims = {k: v for k, v in body.items() if k != "expires_in"}
        claims.setdefault("sub", _persona_subject(claims))
        claims.setdefault("client_id", "dev-token")
        token = self.sign(claims, lifetime)
        scope = claims.get("scope")
        return token_response(token, lifetime, scope if isinstance(scope, str) else "")

    def sign(self, claims: Mapping[str, Any], lifetime: int) -> str:
        """An access token with these claims, refused unless they make a valid Principal."""
        now = int(self._clock())
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        try:  # never sign what the resource server would refuse (fail closed)
            Principal.from_claims(payload)
        except InvalidClaims as exc:
            raise OAuthError(
                "invalid_request", f"the claims make no valid principal: {exc}"
            ) from exc
        return self._encode(payload, "at+jwt")

    def sign_id_token(self, claims: Mapping[str, Any], lifetime: int) -> str:
        """An OpenID Connect ID token (OIDC Core §2); `aud` is the client, not the FHIR server."""
        now = int(self._clock())
        return self._encode(
            {**claims, "iss": self.issuer, "iat": now, "exp": now + lifetime}, "JWT"
        )

    def _encode(self, payload: Mapping[str, Any], typ: str) -> str:
        header = {"alg": self._alg, "kid": self._key.kid, "typ": typ}
        return jwt.encode(header, dict(payload), self._key, algorithms=[self._alg])


def _persona_subject(claims: Mapping[str, object]) -> str:
    """A stable pseudonymous `sub` for a persona (no CPR number in the subject)."""
    parts = [str(claims.get(k) or "") for k in ("dk_user_type", "dk_org_sor", "dk_acting_cpr")]
    return "dev-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
