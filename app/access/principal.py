"""Who is asking: the principal built from a validated access token's claims.

The `dk_*` claims are this service's contract with its issuers (docs/authorization.md).
`Principal.from_claims` fails closed: a token missing a claim its user type needs,
or carrying a malformed or contradictory one, is no principal at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, cast

from app.access.age import birth_date_from_cpr
from app.access.scopes import Context, ScopeSet

UserType = Literal["system", "professional", "citizen", "internal"]
Relation = Literal["self", "custody", "proxy", "guardian"]

# The user types a token may carry. `internal` (the service's own jobs) never comes from
# a token: only `Principal.internal` makes it, so no issuer can mint one.
USER_TYPES: frozenset[str] = frozenset({"system", "professional", "citizen"})
INTERNAL_ISSUER = "urn:esp-careplans:internal"
RELATIONS: frozenset[str] = frozenset({"self", "custody", "proxy", "guardian"})

# Which SMART scope contexts a user type can use. A system client acts for its
# organisation (SMART Backend Services: system/); a professional for themself
# (user/; patient/ needs a launch context this service does not offer); a
# citizen for the patient they act on (patient/) or as themself (user/).
SCOPE_CONTEXTS: dict[str, tuple[Context, ...]] = {
    "system": ("system",),
    "professional": ("user",),
    "citizen": ("patient", "user"),
}

# Claim formats (reference/README.md identifier systems).
_SOR = re.compile(r"[0-9]{1,18}")  # urn:oid:1.2.208.176.1.1
_KOMMUNEKODE = re.compile(r"[0-9]{4}")  # dk-core-municipality-codes
_YDERNUMMER = re.compile(r"[0-9]{1,7}")  # urn:oid:1.2.208.176.1.4
_REGION = re.compile(r"DK-8[1-5]")  # urn:iso:std:iso:3166:-2
_AUTHORIZATION_ID = re.compile(r"[0-9A-Za-z]{5}")  # https://autregweb.sst.dk
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_OVERRIDE_REASON = 500

_ORG_CLAIMS = ("dk_org_sor", "dk_org_kommunekode", "dk_org_ydernummer", "dk_org_region")
_CITIZEN_CLAIMS = ("dk_citizen_cpr", "dk_relation")


class InvalidClaims(ValueError):
    """The claims do not describe a principal; the auth layer answers 401."""

    def __init__(self, claim: str, message: str) -> None:
        super().__init__(f"{claim}: {message}")
        self.claim = claim


class InvalidOverride(ValueError):
    """A consent override that cannot be applied (empty reason, citizen principal)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated principal: user type, organisation, person, relation and scopes."""

    user_type: UserType
    issuer: str
    subject: str
    scopes: ScopeSet
    client_id: str | None = None
    token_id: str | None = None
    org_sor: str | None = None
    org_kommunekode: str | None = None
    org_ydernummer: str | None = None
    org_region: str | None = None
    acting_cpr: str | None = None
    authorization_id: str | None = None
    citizen_cpr: str | None = None
    relation: Relation | None = None
    override_reason: str | None = None

    @classmethod
    def internal(cls, job: str) -> Principal:
        """The service itself running `job` (audit writer, operator load): it sees everything
        and is audited as itself (docs/authorization.md, "Internal jobs")."""
        if not job or _CONTROL.search(job):
            raise ValueError("an internal job needs a printable name")
        return cls(user_type="internal", issuer=INTERNAL_ISSUER, subject=job, scopes=ScopeSet())

    @classmethod
    def organisation(cls, sor: str, *, client_id: str, scopes: str) -> Principal:
        """A system principal of the organisation with SOR code `sor`, as a backend client of
        it would present itself (used to load data as that organisation)."""
        _check_format("dk_org_sor", sor, _SOR)
        return cls(
            user_type="system",
            issuer=INTERNAL_ISSUER,
            subject=client_id,
            scopes=ScopeSet.parse(scopes).for_contexts("system"),
            client_id=client_id,
            org_sor=sor,
        )

    @classmethod
    def citizen_self(cls, cpr: str, *, scopes: str) -> Principal:
        """A citizen acting for themself, as a citizen app would present them (demo loads)."""
        birth_date_from_cpr(cpr)
        return cls(
            user_type="citizen",
            issuer=INTERNAL_ISSUER,
            subject=f"citizen-{cpr}",
            scopes=ScopeSet.parse(scopes).for_contexts(*SCOPE_CONTEXTS["citizen"]),
            acting_cpr=cpr,
            citizen_cpr=cpr,
            relation="self",
        )

    def snapshot(self) -> dict[str, str]:
        """What to keep of a principal that acts later (a Subscription's owner), as data."""
        kept = {
            "user_type": self.user_type,
            "issuer": self.issuer,
            "subject": self.subject,
            "scope": str(self.scopes),
            "client_id": self.client_id,
            "org_sor": self.org_sor,
            "acting_cpr": self.acting_cpr,
            "authorization_id": self.authorization_id,
            "citizen_cpr": self.citizen_cpr,
            "relation": self.relation,
        }
        return {key: value for key, value in kept.items() if value is not None}

    @classmethod
    def restore(cls, data: Mapping[str, str]) -> Principal:
        """The principal of a `snapshot`, with the scopes it then had (never an override:
        an emergency override is for one request, not for what follows)."""
        kind = data["user_type"]
        if kind not in USER_TYPES:
            raise InvalidClaims("user_type", f"cannot restore user type {kind!r}")
        relation = data.get("relation")
        if relation is not None and relation not in RELATIONS:
            raise InvalidClaims("relation", f"unknown relation {relation!r}")
        return cls(
            user_type=cast(UserType, kind),
            issuer=data["issuer"],
            subject=data["subject"],
            scopes=ScopeSet.parse(data.get("scope", "")).for_contexts(*SCOPE_CONTEXTS[kind]),
            client_id=data.get("client_id"),
            org_sor=data.get("org_sor"),
            acting_cpr=data.get("acting_cpr"),
            authorization_id=data.get("authorization_id"),
            citizen_cpr=data.get("citizen_cpr"),
            relation=cast("Relation | None", relation),
        )

    @property
    def owner_key(self) -> str:
        """Who owns what this principal subscribes to: the organisation, or the citizen
        acting for a patient (a parent's subscription is not the child's)."""
        if self.is_organisation:
            return f"org:{self.org_sor}"
        return f"citizen:{self.acting_cpr}:{self.citizen_cpr}:{self.relation}"

    @property
    def is_internal(self) -> bool:
        return self.user_type == "internal"

    @property
    def is_organisation(self) -> bool:
        """A system client or a professional: acts for the organisation `org_sor`."""
        return self.user_type in ("system", "professional")

    @property
    def is_override(self) -> bool:
        """True when the principal invokes a consent override (værdispring)."""
        return self.override_reason is not None

    def with_override(self, reason: str) -> Principal:
        """The same principal invoking a consent override (e.g. from `X-Consent-Override`)."""
        if self.user_type == "citizen":
            raise InvalidOverride("a citizen cannot override consent")
        return replace(self, override_reason=_override_reason(reason))

    @classmethod
    def from_claims(cls, claims: Mapping[str, object]) -> Principal:
        """Build a principal from validated claims; `InvalidClaims` if one is missing or bad."""
        user_type = _required(claims, "dk_user_type")
        if user_type not in USER_TYPES:
            raise InvalidClaims("dk_user_type", f"unknown user type {user_type!r}")
        kind = cast(UserType, user_type)

        org = {name: _optional(claims, name) for name in _ORG_CLAIMS}
        acting_cpr = _cpr(claims, "dk_acting_cpr")
        citizen_cpr = _cpr(claims, "dk_citizen_cpr")
        relation = _optional(claims, "dk_relation")
        authorization_id = _optional(claims, "dk_authorization_id")

        if kind == "citizen":
            _forbid(claims, kind, (*_ORG_CLAIMS, "dk_authorization_id"))
            needed = (
                ("dk_acting_cpr", acting_cpr),
                ("dk_citizen_cpr", citizen_cpr),
                ("dk_relation", relation),
            )
            for name, value in needed:
                if value is None:
                    raise InvalidClaims(name, "required for user type citizen")
            if relation not in RELATIONS:
                raise InvalidClaims("dk_relation", f"unknown relation {relation!r}")
            if (relation == "self") != (citizen_cpr == acting_cpr):
                raise InvalidClaims(
                    "dk_relation", "relation 'self' exactly when dk_citizen_cpr == dk_acting_cpr"
                )
        else:
            _forbid(claims, kind, _CITIZEN_CLAIMS)
            if org["dk_org_sor"] is None:
                raise InvalidClaims("dk_org_sor", f"required for user type {kind}")
            if kind == "system":
                _forbid(claims, kind, ("dk_acting_cpr", "dk_authorization_id"))
            elif acting_cpr is None:
                raise InvalidClaims("dk_acting_cpr", "required for user type professional")

        _check_format("dk_org_sor", org["dk_org_sor"], _SOR)
        _check_format("dk_org_kommunekode", org["dk_org_kommunekode"], _KOMMUNEKODE)
        _check_format("dk_org_ydernummer", org["dk_org_ydernummer"], _YDERNUMMER)
        _check_format("dk_org_region", org["dk_org_region"], _REGION)
        _check_format("dk_authorization_id", authorization_id, _AUTHORIZATION_ID)

        override_reason = _override_from_claims(claims)
        if override_reason is not None and kind == "citizen":
            raise InvalidClaims("dk_consent_override", "a citizen cannot override consent")

        return cls(
            user_type=kind,
            issuer=_required(claims, "iss"),
            subject=_required(claims, "sub"),
            scopes=_scopes(claims).for_contexts(*SCOPE_CONTEXTS[kind]),
            client_id=_optional(claims, "client_id") or _optional(claims, "azp"),
            token_id=_optional(claims, "jti"),
            org_sor=org["dk_org_sor"],
            org_kommunekode=org["dk_org_kommunekode"],
            org_ydernummer=org["dk_org_ydernummer"],
            org_region=org["dk_org_region"],
            acting_cpr=acting_cpr,
            authorization_id=authorization_id,
            citizen_cpr=citizen_cpr,
            relation=cast("Relation | None", relation),
            override_reason=override_reason,
        )


def _optional(claims: Mapping[str, object], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidClaims(name, "must be a non-empty string without surrounding spaces")
    return value


def _required(claims: Mapping[str, object], name: str) -> str:
    value = _optional(claims, name)
    if value is None:
        raise InvalidClaims(name, "required")
    return value


def _forbid(claims: Mapping[str, object], kind: str, names: tuple[str, ...]) -> None:
    for name in names:
        if claims.get(name) is not None:
            raise InvalidClaims(name, f"not allowed for user type {kind}")


def _check_format(name: str, value: str | None, pattern: re.Pattern[str]) -> None:
    if value is not None and not pattern.fullmatch(value):
        raise InvalidClaims(name, "malformed value")


def _cpr(claims: Mapping[str, object], name: str) -> str | None:
    value = _optional(claims, name)
    if value is not None:
        try:
            birth_date_from_cpr(value)
        except ValueError as exc:
            raise InvalidClaims(name, "must be a CPR number: 10 digits, DDMMYY first") from exc
    return value


def _scopes(claims: Mapping[str, object]) -> ScopeSet:
    value = claims.get("scope")
    if value is None:
        return ScopeSet()
    if isinstance(value, str):
        return ScopeSet.parse(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ScopeSet.parse(cast("list[str]", value))
    raise InvalidClaims("scope", "must be a space-separated string")


def _override_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidOverride("a consent override needs a reason")
    reason = reason.strip()
    if len(reason) > MAX_OVERRIDE_REASON or _CONTROL.search(reason):
        raise InvalidOverride(
            f"the override reason must be at most {MAX_OVERRIDE_REASON} printable characters"
        )
    return reason


def _override_from_claims(claims: Mapping[str, object]) -> str | None:
    flag = claims.get("dk_consent_override")
    reason = claims.get("dk_override_reason")
    if flag is None or flag is False:
        if reason is not None:
            raise InvalidClaims("dk_override_reason", "only with dk_consent_override: true")
        return None
    if flag is not True:
        raise InvalidClaims("dk_consent_override", "must be a boolean")
    try:
        return _override_reason(reason)
    except InvalidOverride as exc:
        raise InvalidClaims("dk_override_reason", str(exc)) from exc
