"""OpenID Connect login against the external IdP (authorization code + PKCE, OIDC Core §3.1).

Authlib's OAuth 2.0 core builds the authorization URL and the token requests, httpx
sends them (Authlib's own httpx integration is deprecated in favour of `httpx2`, and
printed a warning on every start), and joserfc checks the ID token (signature from
the IdP's JWKS, iss, aud, exp, nonce). The IdP's access token is the one the API
accepts: it must carry the claims of docs/authorization.md (`dk_user_type=citizen`,
`dk_acting_cpr`, `dk_citizen_cpr`, `dk_relation=self`, scopes). Children come from the
ID token claim `dk_children` and each child's custody token from an RFC 8693 token
exchange (docs/portal.md).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.portal.config import CUSTODY_SCOPES, OidcSettings
from app.portal.tokens import ChildTokens, IssuedToken, TokenUnavailable

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (RFC 8693)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
FORM = "application/x-www-form-urlencoded"
ID_TOKEN_ALGS = ["RS256", "RS384", "ES256", "ES384", "PS256"]
METADATA_TTL = 3600.0


class OidcError(Exception):
    """The login could not be completed (shown to the citizen as a generic failure)."""


class TokenRefused(Exception):
    """The IdP's token endpoint gave no access token."""


@dataclass(frozen=True, slots=True)
class Authorization:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class SignIn:
    token: IssuedToken
    claims: dict[str, Any]


class OidcLogin:
    def __init__(self, settings: OidcSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self._transport = transport
        self._metadata: dict[str, Any] | None = None
        self._fetched = 0.0

    async def _token(self, grant_type: str, **parameters: str) -> dict[str, Any]:
        """A token request (RFC 6749 §4.1.3, RFC 8693 §2.1) with the client's credentials
        (client_secret_basic, §2.3.1; a public client names itself, §3.2.1); raises
        TokenRefused when it is not answered with an access token."""
        meta = await self.metadata()
        auth: httpx.Auth | None = None
        if self.settings.client_secret:
            auth = httpx.BasicAuth(self.settings.client_id, self.settings.client_secret)
        else:
            parameters["client_id"] = self.settings.client_id
        body = prepare_token_request(grant_type, **parameters)
        headers = {"Content-Type": FORM, "Accept": "application/json"}
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as http:
                request = http.build_request(
                    "POST", meta["token_endpoint"], content=body, headers=headers
                )
                answer = await http.send(request, auth=auth)
            token = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenRefused(f"no answer: {exc}") from exc
        if answer.status_code != 200 or not isinstance(token, dict) or "access_token" not in token:
            error = token.get("error") if isinstance(token, dict) else None
            raise TokenRefused(f"{answer.status_code} {error or 'without an access token'}")
        return token

    async def metadata(self) -> dict[str, Any]:
        """The IdP's discovery document (OIDC Discovery §4), cached for an hour."""
        if self._metadata is None or time.monotonic() - self._fetched > METADATA_TTL:
            async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as http:
                response = await http.get(self.settings.discovery_url)
            if response.status_code != 200:
                raise OidcError(f"discovery answered {response.status_code}")
            document = response.json()
            if document.get("issuer") != self.settings.issuer:
                raise OidcError("the discovery document names another issuer")
            self._metadata, self._fetched = document, time.monotonic()
        return self._metadata

    async def authorization(self) -> Authorization:
        meta = await self.metadata()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        url = prepare_grant_uri(
            meta["authorization_endpoint"],
            self.settings.client_id,
            "code",
            redirect_uri=self.settings.redirect_uri,
            scope=self.settings.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url, state, nonce, verifier)

    async def finish(self, code: str, verifier: str, nonce: str) -> SignIn:
        try:
            token = await self._token(
                "authorization_code",
                code=code,
                redirect_uri=self.settings.redirect_uri,
                code_verifier=verifier,
            )
        except TokenRefused as exc:
            raise OidcError(f"the token endpoint refused the code: {exc}") from exc
        claims = await self._id_token_claims(str(token.get("id_token", "")), nonce)
        return SignIn(
            IssuedToken(str(token["access_token"]), int(token.get("expires_in", 300))), claims
        )

    async def _id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as http:
                keys = KeySet.import_key_set((await http.get(meta["jwks_uri"])).json())
        except (httpx.HTTPError, JoseError, ValueError, TypeError) as exc:
            raise OidcError(f"the IdP's keys could not be read: {exc}") from exc
        try:
            decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token was refused: {exc}") from exc
        return dict(decoded.claims)

    def child_tokens(self, parent_token: str, audience: str) -> ChildTokens:
        """RFC 8693 token exchange: the parent's token for a custody token for one child."""

        async def child(child_cpr: str) -> IssuedToken:
            try:
                token = await self._token(
                    TOKEN_EXCHANGE,
                    subject_token=parent_token,
                    subject_token_type=ACCESS_TOKEN_TYPE,
                    requested_token_type=ACCESS_TOKEN_TYPE,
                    audience=audience,
                    scope=CUSTODY_SCOPES,
                    dk_citizen_cpr=child_cpr,
                )
            except TokenRefused as exc:
                raise TokenUnavailable(f"token exchange refused: {exc}") from exc
            return IssuedToken(str(token["access_token"]), int(token.get("expires_in", 300)))

        return child
