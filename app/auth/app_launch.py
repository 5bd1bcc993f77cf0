"""SMART App Launch 2.2, standalone patient launch, in the development issuer.

authorize (login page → child picker) → code → token (+ id_token, refresh token).
Who signs in is a demo citizen picked on a page (there is no MitID in development);
a custody holder then picks a child the custody rule allows (app/auth/launch.py).
The token is bound to that patient: `dk_citizen_cpr`, `dk_relation` and the `patient`
launch context. docs/authorization.md describes how a production IdP does the same.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.age import today_in_copenhagen
from app.access.scopes import ScopeSet
from app.auth.authorize import (
    AuthorizationRequest,
    AuthorizeError,
    parse_authorization_request,
    verify_pkce,
)
from app.auth.clients import ClientRegistry, RegisteredClient
from app.auth.grants import OFFLINE_LIFETIME, ONLINE_LIFETIME, Grant, GrantStore
from app.auth.launch import Citizen, LaunchSubject, launch_subjects
from app.auth.oauth import OAuthError, token_response
from app.storage.access_facts import read_facts

# Fields of the login pages' forms (the authorization request travels along and is
# checked again on every step: nothing of it is trusted from the form).
REQUEST_FIELD, PERSONA_FIELD, SUBJECT_FIELD, CANCEL_FIELD = (
    "esp_request",
    "persona",
    "subject",
    "cancel",
)


class Signer(Protocol):
    issuer: str
    audience: str
    access_token_lifetime: int
    clients: ClientRegistry

    def sign(self, claims: Mapping[str, Any], lifetime: int) -> str: ...

    def sign_id_token(self, claims: Mapping[str, Any], lifetime: int) -> str: ...


@dataclass(frozen=True, slots=True)
class LoginPage:
    request: AuthorizationRequest
    citizens: Sequence[Citizen]


@dataclass(frozen=True, slots=True)
class PickerPage:
    request: AuthorizationRequest
    citizen: Citizen
    subjects: Sequence[LaunchSubject]


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


@dataclass(frozen=True, slots=True)
class ErrorPage:
    error: str
    description: str


AuthorizeOutcome = LoginPage | PickerPage | Redirect | ErrorPage


def subject_claim(acting_cpr: str) -> str:
    """A stable pseudonymous `sub` for the signed-in citizen (no CPR number in it)."""
    return "dev-" + hashlib.sha256(f"citizen||{acting_cpr}".encode()).hexdigest()[:16]


class AppLaunch:
    """The authorization endpoint and the code and refresh grants of the token endpoint."""

    def __init__(
        self,
        signer: Signer,
        engine: AsyncEngine,
        citizens: Sequence[Citizen],
        *,
        custody_authorities: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.engine = engine
        self.citizens = tuple(citizens)
        self.custody_authorities = custody_authorities
        self.grants = GrantStore(engine, clock)
        self._clock = clock

    async def _subjects(self, acting_cpr: str) -> list[LaunchSubject]:
        async with read_facts(self.engine) as facts:
            return await launch_subjects(
                facts, acting_cpr, today_in_copenhagen(), self.custody_authorities
            )

    @property
    def authorization_url(self) -> str:
        return f"{self.signer.issuer}/authorize"

    # --- authorization endpoint -----------------------------------------------------------

    async def authorize(
        self, items: Iterable[tuple[str, str]], step: Mapping[str, str] | None = None
    ) -> AuthorizeOutcome:
        """One step: the request (GET or POST) shows the login page; the login forms go on."""
        if step is not None:
            items = parse_qsl(step.get(REQUEST_FIELD, ""), keep_blank_values=True)
        try:
            request = parse_authorization_request(items, self.signer.clients, self.signer.audience)
            if step is None:
                return LoginPage(request, self.citizens)
            return await self._login_step(request, step)
        except AuthorizeError as exc:
            location = exc.location()
            return Redirect(location) if location else ErrorPage(exc.error, exc.description)

    async def _login_step(
        self, request: AuthorizationRequest, step: Mapping[str, str]
    ) -> AuthorizeOutcome:
        if CANCEL_FIELD in step:
            raise request.deny("access_denied", "the user cancelled the sign-in")
        citizen = next((c for c in self.citizens if c.key == step.get(PERSONA_FIELD)), None)
        if citizen is None:
            return LoginPage(request, self.citizens)
        subjects = await self._subjects(citizen.cpr)
        chosen = step.get(SUBJECT_FIELD)
        if chosen is None:
            if len(subjects) == 1 and subjects[0].relation == "self":
                return await self._issue_code(request, citizen, subjects[0])
            return PickerPage(request, citizen, subjects)
        # Only what was offered can be chosen: the list is computed again, never trusted.
        subject = next((s for s in subjects if s.patient_id == chosen), None)
        if subject is None:
            return PickerPage(request, citizen, subjects)
        return await self._issue_code(request, citizen, subject)

    async def _issue_code(
        self, request: AuthorizationRequest, citizen: Citizen, subject: LaunchSubject
    ) -> Redirect:
        grant = Grant(
            client_id=request.client.client_id,
            scope=str(request.scope),
            acting_cpr=citizen.cpr,
            citizen_cpr=subject.citizen_cpr,
            relation=subject.relation,
            patient_id=subject.patient_id,
            fhir_user=subject.fhir_user,
            auth_time=int(self._clock()),
            nonce=request.nonce,
            redirect_uri=request.redirect_uri,
            redirect_uri_sent=request.redirect_uri_sent,
            code_challenge=request.code_challenge,
        )
        return Redirect(request.code_location(await self.grants.issue_code(grant)))

    # --- token endpoint -------------------------------------------------------------------

    async def exchange_code(
        self, client: RegisteredClient, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        grant = await self.grants.redeem("code", params.get("code", ""), client.client_id)
        sent = params.get("redirect_uri")
        if (grant.redirect_uri_sent or sent is not None) and sent != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization")
        if not verify_pkce(params.get("code_verifier", ""), grant.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return await self._tokens(client, grant, ScopeSet.parse(grant.scope), new=True)

    async def refresh(
        self, client: RegisteredClient | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """grant_type=refresh_token (RFC 6749 §6): rotated, and narrowing only.

        `client` None: the request named no client. RFC 6749 §6 asks only confidential
        clients to authenticate, and fhirclient.js sends no client_id by default, so a
        public client's refresh token identifies its client itself.
        """
        token = params.get("refresh_token", "")
        grant = await self.grants.redeem(
            "refresh", token, client.client_id if client is not None else None
        )
        if client is None:
            client = self.signer.clients.get(grant.client_id)
            if client is None or not client.is_public:
                raise OAuthError("invalid_client", "a confidential client must authenticate")
        original = ScopeSet.parse(grant.scope)
        scope = original
        if params.get("scope", "").strip():
            scope = ScopeSet.parse(params["scope"])
            if not original.includes(scope) or not scope.scopes:
                raise OAuthError(
                    "invalid_scope", "a refresh can only narrow the scopes of the grant"
                )
        subjects = await self._subjects(grant.acting_cpr)
        if not any(
            s.citizen_cpr == grant.citizen_cpr and s.relation == grant.relation for s in subjects
        ):  # e.g. the child turned 15 or custody ended: the grant ends (sundhedsloven §39a)
            await self.grants.revoke(grant)
            raise OAuthError("invalid_grant", "the sign-in no longer gives access to the patient")
        return await self._tokens(client, grant, scope, new=False)

    async def _tokens(
        self,
        client: RegisteredClient,
        grant: Grant,
        scope: ScopeSet,
        *,
        new: bool,
    ) -> dict[str, Any]:
        lifetime = self.signer.access_token_lifetime
        sub = subject_claim(grant.acting_cpr)
        claims = {
            "sub": sub,
            "client_id": client.client_id,
            "scope": str(scope),
            "dk_user_type": "citizen",
            "dk_acting_cpr": grant.acting_cpr,
            "dk_citizen_cpr": grant.citizen_cpr,
            "dk_relation": grant.relation,
        }
        body = token_response(self.signer.sign(claims, lifetime), lifetime, str(scope))
        if "launch/patient" in scope.other:
            body["patient"] = grant.patient_id  # SMART launch context
        if "openid" in scope.other and new:
            body["id_token"] = self._id_token(client, grant, scope, sub)
        refresh = self._refresh_until(client, grant, new=new)
        if refresh:
            body["refresh_token"] = await self.grants.issue_refresh(_as_refresh(grant, refresh))
        return body

    def _id_token(self, client: RegisteredClient, grant: Grant, scope: ScopeSet, sub: str) -> str:
        """OpenID Connect Core §2 ID token; `fhirUser` as SMART App Launch 2.2 defines it."""
        claims: dict[str, Any] = {"sub": sub, "aud": client.client_id, "auth_time": grant.auth_time}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if "fhirUser" in scope.other:
            claims["fhirUser"] = f"{self.signer.audience}/{grant.fhir_user}"
        return self.signer.sign_id_token(claims, self.signer.access_token_lifetime)

    def _refresh_until(self, client: RegisteredClient, grant: Grant, *, new: bool) -> float:
        """When a refresh token for this grant stops working; 0 for none."""
        if not new:
            return grant.refresh_until  # rotation keeps the family's end
        if "refresh_token" not in client.grant_types:
            return 0.0
        other = ScopeSet.parse(grant.scope).other
        if "offline_access" in other:
            return self._clock() + OFFLINE_LIFETIME
        if "online_access" in other:
            return self._clock() + ONLINE_LIFETIME
        return 0.0


def _as_refresh(grant: Grant, until: float) -> Grant:
    """The grant as a refresh token keeps it: no code-only fields."""
    return Grant(
        client_id=grant.client_id,
        scope=grant.scope,
        acting_cpr=grant.acting_cpr,
        citizen_cpr=grant.citizen_cpr,
        relation=grant.relation,
        patient_id=grant.patient_id,
        fhir_user=grant.fhir_user,
        auth_time=grant.auth_time,
        family=grant.family,
        refresh_until=until,
    )
