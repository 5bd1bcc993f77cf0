"""Client authentication with a signed JWT (RFC 7523 §2.2, §3; SMART Backend Services).

The assertion is signed with RS384 or ES384 by a registered client: `iss` = `sub` =
client_id, `aud` = our token URL, `exp` at most 5 minutes ahead, a `jti` never seen
before. Replays are remembered per process only (docs/authorization.md): a
deployment with several nodes uses an external issuer with a shared store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jws import JWSRegistry

from app.auth.clients import ClientRegistry, RegisteredClient
from app.auth.jwks import select_key
from app.auth.jws import MalformedJws, peek
from app.auth.oauth import OAuthError

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# SMART Backend Services: "SHALL support RS384 and ES384" for client assertions.
ASSERTION_ALGORITHMS: tuple[str, ...] = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300
MAX_JTI_LENGTH = 256


class ReplayCache:
    """Seen `jti` values, each kept until its assertion expires (RFC 7523 §3 item 7)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._expiry: dict[str, float] = {}
        self._max_entries = max_entries

    def check_and_add(self, key: str, expires_at: float, now: float) -> bool:
        """Record `key`; False if it was already recorded and has not expired."""
        if len(self._expiry) >= self._max_entries:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
        seen = self._expiry.get(key)
        if seen is not None and seen > now:
            return False
        if len(self._expiry) >= self._max_entries:
            return False  # full of live entries: refuse rather than forget (fail closed)
        self._expiry[key] = expires_at
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class ClientAssertionVerifier:
    """Checks a `client_assertion` and returns the registered client it authenticates."""

    def __init__(
        self,
        clients: ClientRegistry,
        token_url: str,
        *,
        replay: ReplayCache | None = None,
        leeway: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.token_url = token_url
        self.replay = replay or ReplayCache()
        self.leeway = leeway
        self._clock = clock
        self._registry = JWSRegistry(algorithms=list(ASSERTION_ALGORITHMS))

    def verify(self, assertion: str, client_id: str | None = None) -> RegisteredClient:
        """The authenticated client; `OAuthError` invalid_client (or invalid_grant on replay)."""
        header, unverified = _peek(assertion)
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise _invalid(f"assertion algorithm must be one of {', '.join(ASSERTION_ALGORITHMS)}")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or unverified.get("sub") != issuer:
            raise _invalid("assertion iss and sub must both be the client_id")
        if client_id is not None and client_id != issuer:
            raise _invalid("client_id does not match the assertion")
        client = self.clients.get(issuer)
        if client is None:
            raise _invalid("unknown client")
        kid = header.get("kid")
        key = select_key(client.keys, alg, kid if isinstance(kid, str) else None)
        if key is None:
            raise _invalid("no registered key matches the assertion (kid, alg)")
        try:
            claims = jwt.decode(assertion, key, registry=self._registry).claims
        except (JoseError, ValueError) as exc:
            raise _invalid("assertion signature verification failed") from exc

        now = self._clock()
        self._check_claims(claims, issuer, now)
        exp = claims["exp"]
        if exp > now + MAX_ASSERTION_LIFETIME + self.leeway:
            raise _invalid(f"assertion exp is more than {MAX_ASSERTION_LIFETIME} s ahead")
        jti = claims["jti"]
        if not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise _invalid("assertion jti must be 1-256 characters")
        if not self.replay.check_and_add(f"{issuer}\x00{jti}", exp + self.leeway, now):
            raise OAuthError("invalid_grant", "client assertion jti already used (replay)")
        return client

    def _check_claims(self, claims: dict[str, Any], issuer: str, now: float) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=self.leeway,
            iss={"essential": True, "value": issuer},
            sub={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.token_url},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise _invalid("assertion expired") from exc
        except JoseError as exc:
            raise _invalid(f"assertion: {exc.description or exc.error}") from exc


def _invalid(description: str) -> OAuthError:
    return OAuthError("invalid_client", description)


def _peek(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return peek(assertion)
    except MalformedJws as exc:
        raise _invalid(f"client_assertion: {exc}") from exc
