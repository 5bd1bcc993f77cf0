"""Access tokens for tests: personas signed by a test issuer, and the config that trusts it.

    tf = TokenFactory("http://testserver/fhir")
    app.state.auth = tf.auth_service()            # or tf.validator(), tf.issuers()
    headers = bearer(tf.system(sor=HOSPITAL_SOR, scopes="system/*.cruds"))
    headers = bearer(tf.professional())           # Niels Vendelboe at the hospital
    headers = bearer(tf.citizen(cpr=PIA_BERGGREN))                      # relation self
    headers = bearer(tf.custody_parent())         # Kirsten Berggren for her son Lars
    principal = Principal.from_claims(tf.citizen_claims(cpr=PIA_BERGGREN))

Any keyword that is not a parameter becomes a claim (`exp=...`, `aud=...`); the
value `DROP` (or None) leaves a claim out. Persons are MedCom test persons
(shared reference medcom-test-families.json); organisation codes are fictitious.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key, KeySet, import_key

from app.access.principal import Principal
from app.auth.jwks import JwksSource, StaticJwks
from app.auth.keys import SigningAlg, generate_signing_key
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator

DROP: Any = object()  # pass as a claim value to leave that claim out

# MedCom test persons (DK-core TestPatienter, Berggren and other families).
KIRSTEN_BERGGREN = "2911829996"  # b. 1982-11-29, mother (MTH) of Pia, Gitte, Lars, Rikke, Aya
PIA_BERGGREN = "0505059996"  # b. 2005-05-05
GITTE_BERGGREN = "0505109990"  # b. 2010-05-05
LARS_BERGGREN = "0505159995"  # b. 2015-05-05
AYA_BERGGREN = "0505239996"  # b. 2023-05-05
NIELS_VENDELBOE = "3001749995"  # b. 1974-01-30: our health-professional persona
# Fictitious, format-valid organisation codes in the Horsens cluster (not real SOR codes).
HOSPITAL_SOR = "100000000000001"  # stands for Regionshospitalet Horsens
MUNICIPALITY_SOR = "100000000000615"  # stands for Horsens Kommune
HORSENS_KOMMUNEKODE = "0615"
GP_SOR, GP_YDERNUMMER = "100000000000002", "012345"
REGION_MIDT = "DK-82"
AUTHORIZATION_ID = "0C5VJ"

DEFAULT_ISSUER = "https://idp.test.example/auth"
DEFAULT_BASE_URL = "http://testserver/fhir"


@cache
def signing_key(alg: SigningAlg = "ES384", name: str = "issuer") -> Key:
    """A private key per (alg, name), generated once per test session (RSA is slow)."""
    return generate_signing_key(alg)


def bearer(token: str) -> dict[str, str]:
    """The request header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


def public_jwks(*keys: Key) -> dict[str, Any]:
    """The public JWKS of private keys."""
    return dict(KeySet([import_key(k.as_dict(private=False)) for k in keys]).as_dict())


class TokenFactory:
    """Signs access tokens for personas as a trusted test issuer."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        issuer: str = DEFAULT_ISSUER,
        alg: SigningAlg = "ES384",
        key: Key | None = None,
        lifetime: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.issuer = issuer
        self.alg = alg
        self.key = key or signing_key(alg)
        self.key.ensure_kid()
        self.lifetime = lifetime
        self.clock = clock
        self._source = StaticJwks(public_jwks(self.key))

    # --- what a server needs to trust this issuer -------------------------------------

    def jwks(self) -> dict[str, Any]:
        return public_jwks(self.key)

    def jwks_source(self) -> StaticJwks:
        """The issuer's keys in memory (one instance: `.replace()` rotates them)."""
        return self._source

    def issuers(self) -> dict[str, JwksSource]:
        return {self.issuer: self._source}

    def validator(self, **kwargs: Any) -> TokenValidator:
        return TokenValidator(self.issuers(), self.base_url, **kwargs)

    def auth_service(self, **kwargs: Any) -> AuthService:
        """An AuthService that trusts this factory; put it on `app.state.auth`."""
        return AuthService(validator=self.validator(), **kwargs)

    def trusted_issuers_json(self, jwks_file: Path) -> str:
        """Write the JWKS to `jwks_file` and return the ESP_TRUSTED_ISSUERS value trusting it."""
        jwks_file.write_text(json.dumps(self.jwks()))
        return json.dumps([{"issuer": self.issuer, "jwks_file": str(jwks_file)}])

    # --- signing ------------------------------------------------------------------------

    def claims(self, **claims: Any) -> dict[str, Any]:
        """Registered claims (iss, aud, iat, exp, jti) plus `claims`; DROP removes one."""
        now = int(self.clock())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.base_url,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(12),
        }
        base.update(claims)
        return {k: v for k, v in base.items() if v is not DROP and v is not None}

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        header: Mapping[str, Any] | None = None,
        key: Key | None = None,
        alg: str | None = None,
    ) -> str:
        """Sign `claims` exactly as given (use `claims()` for the registered ones)."""
        key = key or self.key
        alg = alg or str(key.get("alg") or self.alg)
        key.ensure_kid()
        head = {"alg": alg, "kid": key.kid, "typ": "JWT", **(header or {})}
        head = {k: v for k, v in head.items() if v is not DROP}
        return jwt.encode(head, dict(claims), key, algorithms=[alg])

    # --- personas -----------------------------------------------------------------------

    def system_claims(
        self,
        sor: str = HOSPITAL_SOR,
        scopes: str = "system/*.cruds",
        *,
        client_id: str = "test-system-client",
        kommunekode: str | None = None,
        ydernummer: str | None = None,
        region: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A SMART Backend Services client acting for organisation `sor`."""
        return self.claims(
            **{
                "sub": client_id,
                "client_id": client_id,
                "scope": scopes,
                "dk_user_type": "system",
                "dk_org_sor": sor,
                "dk_org_kommunekode": kommunekode,
                "dk_org_ydernummer": ydernummer,
                "dk_org_region": region,
                **extra,
            }
        )

    def system(self, sor: str = HOSPITAL_SOR, scopes: str = "system/*.cruds", **kw: Any) -> str:
        return self.sign(self.system_claims(sor, scopes, **kw))

    def professional_claims(
        self,
        cpr: str = NIELS_VENDELBOE,
        sor: str = HOSPITAL_SOR,
        scopes: str = "user/*.cruds",
        *,
        authorization_id: str | None = AUTHORIZATION_ID,
        kommunekode: str | None = None,
        ydernummer: str | None = None,
        region: str | None = None,
        override_reason: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A health professional (acting CPR) working for organisation `sor`."""
        override = {"dk_consent_override": True, "dk_override_reason": override_reason}
        return self.claims(
            **{
                "sub": f"professional-{cpr[-4:]}-{sor[-4:]}",
                "client_id": "test-professional-app",
                "scope": scopes,
                "dk_user_type": "professional",
                "dk_org_sor": sor,
                "dk_acting_cpr": cpr,
                "dk_authorization_id": authorization_id,
                "dk_org_kommunekode": kommunekode,
                "dk_org_ydernummer": ydernummer,
                "dk_org_region": region,
                **(override if override_reason else {}),
                **extra,
            }
        )

    def professional(self, cpr: str = NIELS_VENDELBOE, sor: str = HOSPITAL_SOR, **kw: Any) -> str:
        return self.sign(self.professional_claims(cpr, sor, **kw))

    def citizen_claims(
        self,
        cpr: str = PIA_BERGGREN,
        citizen_cpr: str | None = None,
        relation: str | None = None,
        scopes: str = "patient/*.rs",
        **extra: Any,
    ) -> dict[str, Any]:
        """A citizen `cpr` acting for `citizen_cpr` (default: themself, relation self)."""
        citizen_cpr = citizen_cpr or cpr
        relation = relation or ("self" if citizen_cpr == cpr else "custody")
        return self.claims(
            **{
                "sub": f"citizen-{cpr[-4:]}",
                "client_id": "test-citizen-app",
                "scope": scopes,
                "dk_user_type": "citizen",
                "dk_acting_cpr": cpr,
                "dk_citizen_cpr": citizen_cpr,
                "dk_relation": relation,
                **extra,
            }
        )

    def citizen(
        self,
        cpr: str = PIA_BERGGREN,
        citizen_cpr: str | None = None,
        relation: str | None = None,
        **kw: Any,
    ) -> str:
        return self.sign(self.citizen_claims(cpr, citizen_cpr, relation, **kw))

    def custody_parent(
        self, parent_cpr: str = KIRSTEN_BERGGREN, child_cpr: str = LARS_BERGGREN, **kw: Any
    ) -> str:
        """A parent with custody (forældremyndighed) acting for their child."""
        return self.citizen(parent_cpr, child_cpr, "custody", **kw)

    @staticmethod
    def principal(claims: Mapping[str, Any]) -> Principal:
        return Principal.from_claims(claims)


@dataclass
class BackendClient:
    """A SMART Backend Services client: its private key and registration (clients file)."""

    client_id: str = "test-backend"
    alg: SigningAlg = "ES384"
    sor: str = MUNICIPALITY_SOR
    scope: str = "system/*.cruds"
    kommunekode: str | None = HORSENS_KOMMUNEKODE
    key: Key = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = signing_key(self.alg, f"client:{self.client_id}")
        self.key.ensure_kid()

    def registration(self) -> dict[str, Any]:
        """This client's entry in the ESP_CLIENTS_FILE `clients` list."""
        entry: dict[str, Any] = {
            "client_id": self.client_id,
            "user_type": "system",
            "jwks": public_jwks(self.key),
            "scope": self.scope,
            "dk_org_sor": self.sor,
        }
        if self.kommunekode:
            entry["dk_org_kommunekode"] = self.kommunekode
        return entry

    def assertion(
        self,
        token_url: str,
        *,
        lifetime: int = 300,
        now: float | None = None,
        header: Mapping[str, Any] | None = None,
        key: Key | None = None,
        **claims: Any,
    ) -> str:
        """A client_assertion JWT (RFC 7523 §3) for `token_url`; claims override/DROP."""
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": issued + lifetime,
            "iat": issued,
            "jti": secrets.token_urlsafe(16),
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not DROP}
        key = key or self.key
        head = {"alg": self.alg, "kid": key.kid, "typ": "JWT", **(header or {})}
        return jwt.encode(head, body, key, algorithms=[head["alg"]])

    def token_form(self, token_url: str, scope: str | None = None, **claims: Any) -> dict[str, str]:
        """The form of a client_credentials token request."""
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(token_url, **claims),
            "scope": scope if scope is not None else self.scope,
        }


def clients_document(*clients: BackendClient) -> dict[str, Any]:
    """An ESP_CLIENTS_FILE document registering `clients`."""
    return {"clients": [c.registration() for c in clients]}
