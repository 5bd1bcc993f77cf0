"""Access-token validation for the resource server (RFC 7519, RFC 7515, RFC 8725 §3).

Signature against the issuer's JWKS, an allow-list of asymmetric algorithms passed
explicitly (never `none`, never HS*), `iss` trusted, `aud` = our base URL, `exp`
required, `nbf`/`iat` with at most 60 s leeway; then the claims must make a
`Principal`. Every failure is a 401 `invalid_token`; unreachable keys are a 503.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from app.access.principal import InvalidClaims, Principal
from app.auth.bearer import invalid_token, keys_unavailable
from app.auth.jwks import JwksSource, JwksUnavailable, select_key
from app.auth.jws import MalformedJws, peek

# RFC 8725 §3.1: allow-list; RS384/ES384 are not in joserfc's default set, so always explicit.
ALGORITHMS: tuple[str, ...] = ("RS256", "RS384", "ES256", "ES384")
MAX_LEEWAY = 60
# Validated tokens remembered until they expire (bounded; oldest evicted first).
VERIFIED_CACHE_SIZE = 10_000
MAX_TOKEN_BYTES = 16 * 1024
# RFC 9068 §2.1 `at+jwt`; plain `JWT` from most issuers; no `typ` is allowed too.
_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})


class TokenValidator:
    """Validates bearer tokens against trusted issuers and returns claims or a Principal."""

    def __init__(
        self,
        issuers: Mapping[str, JwksSource],
        audience: str,
        *,
        leeway: int = MAX_LEEWAY,
        algorithms: tuple[str, ...] = ALGORITHMS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be 0..{MAX_LEEWAY} s")
        # An empty allow-list would make joserfc fall back to its "recommended" set (HS256!).
        if not algorithms or not set(algorithms) <= set(ALGORITHMS):
            raise ValueError(f"allow a non-empty subset of {ALGORITHMS}")
        self.issuers = dict(issuers)
        self.audience = audience
        self.leeway = leeway
        self.algorithms = algorithms
        self._registry = JWSRegistry(algorithms=list(algorithms))
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def authenticate(self, token: str) -> Principal:
        """Validate `token` and build its Principal; FhirError 401 (or 503) otherwise.

        A token that validated once is remembered until its `exp` (no leeway), so the
        signature is checked once per token, not once per request.
        """
        now = self._clock()
        cached = self._verified.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        claims = await self.validate(token)
        try:
            principal = Principal.from_claims(claims)
        except InvalidClaims as exc:
            raise invalid_token(str(exc)) from exc
        expires = claims.get("exp")
        if isinstance(expires, int | float):
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, float(expires))
        return principal

    async def validate(self, token: str) -> dict[str, Any]:
        """Verified claims of `token`; FhirError 401 (or 503) otherwise."""
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise invalid_token(f"algorithm {alg!r} is not accepted")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
            raise invalid_token(f"token type {typ!r} is not an access token")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("kid must be a string")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self.issuers:
            raise invalid_token("issuer is not trusted")
        key = await self._key(self.issuers[issuer], alg, kid)
        try:
            verified = jwt.decode(token, key, registry=self._registry)
        except JoseError as exc:
            raise invalid_token("signature verification failed") from exc
        except ValueError as exc:  # joserfc raises ValueError for some key/header mismatches
            raise invalid_token("signature verification failed") from exc
        self._check_claims(verified.claims, issuer)
        return verified.claims

    async def _key(self, source: JwksSource, alg: str, kid: str | None) -> Key:
        """The verification key; one refresh of the JWKS when the `kid` is unknown (rotation)."""
        try:
            key = select_key(await source.keys(), alg, kid)
            if key is None:
                key = select_key(await source.keys(refresh=True), alg, kid)
        except JwksUnavailable as exc:
            raise keys_unavailable(str(exc)) from exc
        if key is None:
            raise invalid_token("no matching signing key (kid)")
        return key

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self.leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise invalid_token("token expired") from exc
        except JoseError as exc:  # MissingClaimError, InvalidClaimError: "Invalid claim: 'aud'"
            raise invalid_token(exc.description or exc.error) from exc


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and unverified payload, used only to pick the issuer and key (RFC 8725 §3.1)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise invalid_token("token too large")
    try:
        return peek(token)
    except MalformedJws as exc:
        raise invalid_token(str(exc)) from exc
