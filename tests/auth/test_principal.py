"""Principal.from_claims fails closed: each user type needs its claims, and only those."""

from __future__ import annotations

from typing import Any

import pytest

from app.access.principal import InvalidClaims, InvalidOverride, Principal
from tests.support.tokens import (
    DROP,
    GP_YDERNUMMER,
    HORSENS_KOMMUNEKODE,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    NIELS_VENDELBOE,
    PIA_BERGGREN,
    REGION_MIDT,
    TokenFactory,
)

tf = TokenFactory()


def test_system_principal() -> None:
    p = Principal.from_claims(
        tf.system_claims(
            HOSPITAL_SOR,
            "system/*.rs",
            kommunekode=HORSENS_KOMMUNEKODE,
            ydernummer=GP_YDERNUMMER,
            region=REGION_MIDT,
        )
    )
    assert p.user_type == "system"
    assert (p.org_sor, p.org_kommunekode, p.org_ydernummer, p.org_region) == (
        HOSPITAL_SOR,
        HORSENS_KOMMUNEKODE,
        GP_YDERNUMMER,
        REGION_MIDT,
    )
    assert p.acting_cpr is None and p.citizen_cpr is None and p.relation is None
    assert p.scopes.allows("CarePlan", "read")
    assert (p.issuer, p.subject, p.client_id) == (
        tf.issuer,
        "test-system-client",
        "test-system-client",
    )
    assert p.token_id


def test_professional_principal() -> None:
    p = Principal.from_claims(tf.professional_claims())
    assert p.user_type == "professional"
    assert (p.acting_cpr, p.org_sor, p.authorization_id) == (NIELS_VENDELBOE, HOSPITAL_SOR, "0C5VJ")
    assert p.override_reason is None and not p.is_override


def test_citizen_self() -> None:
    p = Principal.from_claims(tf.citizen_claims(PIA_BERGGREN))
    assert (p.user_type, p.acting_cpr, p.citizen_cpr, p.relation) == (
        "citizen",
        PIA_BERGGREN,
        PIA_BERGGREN,
        "self",
    )
    assert p.org_sor is None


def test_custody_parent() -> None:
    p = Principal.from_claims(tf.citizen_claims(KIRSTEN_BERGGREN, LARS_BERGGREN, "custody"))
    assert (p.acting_cpr, p.citizen_cpr, p.relation) == (KIRSTEN_BERGGREN, LARS_BERGGREN, "custody")


MISSING: list[tuple[str, dict[str, Any], str]] = [
    ("system without SOR", tf.system_claims(dk_org_sor=DROP), "dk_org_sor"),
    ("professional without SOR", tf.professional_claims(dk_org_sor=DROP), "dk_org_sor"),
    ("professional without CPR", tf.professional_claims(dk_acting_cpr=DROP), "dk_acting_cpr"),
    ("citizen without acting CPR", tf.citizen_claims(dk_acting_cpr=DROP), "dk_acting_cpr"),
    ("citizen without citizen CPR", tf.citizen_claims(dk_citizen_cpr=DROP), "dk_citizen_cpr"),
    ("citizen without relation", tf.citizen_claims(dk_relation=DROP), "dk_relation"),
    ("no user type", tf.system_claims(dk_user_type=DROP), "dk_user_type"),
    ("no subject", tf.system_claims(sub=DROP), "sub"),
    ("no issuer", tf.system_claims(iss=DROP), "iss"),
]


@pytest.mark.parametrize(("case", "claims", "claim"), MISSING, ids=[m[0] for m in MISSING])
def test_missing_claim_is_refused(case: str, claims: dict[str, Any], claim: str) -> None:
    with pytest.raises(InvalidClaims) as caught:
        Principal.from_claims(claims)
    assert caught.value.claim == claim


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown user type", tf.system_claims(dk_user_type="admin"), "dk_user_type"),
    ("user type not a string", tf.system_claims(dk_user_type=["system"]), "dk_user_type"),
    ("CPR of 9 digits", tf.professional_claims(cpr="123456789"), "dk_acting_cpr"),
    ("CPR of 11 digits", tf.professional_claims(cpr="12345678901"), "dk_acting_cpr"),
    ("CPR with a dash", tf.citizen_claims(cpr="050505-9996"), "dk_acting_cpr"),
    ("CPR not a date", tf.citizen_claims(cpr="3202059996"), "dk_acting_cpr"),
    ("CPR as a number", tf.professional_claims(dk_acting_cpr=3001749995), "dk_acting_cpr"),
    ("citizen CPR malformed", tf.citizen_claims(PIA_BERGGREN, "05050599"), "dk_citizen_cpr"),
    (
        "self for someone else",
        tf.citizen_claims(KIRSTEN_BERGGREN, LARS_BERGGREN, "self"),
        "dk_relation",
    ),
    ("custody of oneself", tf.citizen_claims(PIA_BERGGREN, PIA_BERGGREN, "custody"), "dk_relation"),
    (
        "unknown relation",
        tf.citizen_claims(KIRSTEN_BERGGREN, LARS_BERGGREN, "friend"),
        "dk_relation",
    ),
    ("citizen with an organisation", tf.citizen_claims(dk_org_sor=HOSPITAL_SOR), "dk_org_sor"),
    ("system with a relation", tf.system_claims(dk_relation="self"), "dk_relation"),
    ("system with an acting CPR", tf.system_claims(dk_acting_cpr=NIELS_VENDELBOE), "dk_acting_cpr"),
    (
        "professional with a citizen CPR",
        tf.professional_claims(dk_citizen_cpr=PIA_BERGGREN),
        "dk_citizen_cpr",
    ),
    ("SOR not digits", tf.system_claims(sor="SOR-1234"), "dk_org_sor"),
    ("kommunekode of 3 digits", tf.system_claims(kommunekode="615"), "dk_org_kommunekode"),
    ("unknown region", tf.system_claims(region="DK-99"), "dk_org_region"),
    ("empty SOR", tf.system_claims(sor=""), "dk_org_sor"),
    ("SOR with spaces", tf.system_claims(sor=f" {HOSPITAL_SOR}"), "dk_org_sor"),
    ("scope not a string", tf.system_claims(scope={"system/*.cruds": True}), "scope"),
    (
        "override without reason",
        tf.professional_claims(dk_consent_override=True),
        "dk_override_reason",
    ),
    (
        "override as a string",
        tf.professional_claims(dk_consent_override="true", dk_override_reason="akut"),
        "dk_consent_override",
    ),
    (
        "reason without override",
        tf.professional_claims(dk_override_reason="akut"),
        "dk_override_reason",
    ),
    (
        "citizen override",
        tf.citizen_claims(dk_consent_override=True, dk_override_reason="x"),
        "dk_consent_override",
    ),
]


@pytest.mark.parametrize(("case", "claims", "claim"), BAD, ids=[b[0] for b in BAD])
def test_bad_claim_is_refused(case: str, claims: dict[str, Any], claim: str) -> None:
    with pytest.raises(InvalidClaims) as caught:
        Principal.from_claims(claims)
    assert caught.value.claim == claim


def test_override_from_claims() -> None:
    p = Principal.from_claims(tf.professional_claims(override_reason="Akut behandling"))
    assert p.override_reason == "Akut behandling" and p.is_override


def test_with_override_returns_a_new_principal() -> None:
    p = Principal.from_claims(tf.professional_claims())
    q = p.with_override("  Bevidstløs patient  ")
    assert q.override_reason == "Bevidstløs patient"
    assert p.override_reason is None  # frozen: the original is unchanged


@pytest.mark.parametrize("reason", ["", "   ", "a\nb", "x" * 501])
def test_with_override_needs_a_printable_reason(reason: str) -> None:
    p = Principal.from_claims(tf.professional_claims())
    with pytest.raises(InvalidOverride):
        p.with_override(reason)


def test_citizens_cannot_override() -> None:
    with pytest.raises(InvalidOverride):
        Principal.from_claims(tf.citizen_claims()).with_override("nød")


def test_principal_is_frozen() -> None:
    p = Principal.from_claims(tf.system_claims())
    with pytest.raises(AttributeError):
        p.org_sor = "1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("claims", "granted", "dropped"),
    [
        (
            tf.system_claims(scopes="system/*.rs user/*.cruds patient/*.rs"),
            "system/*.rs",
            ("user/*.cruds", "patient/*.rs"),
        ),
        (
            tf.professional_claims(scopes="user/*.rs system/*.cruds patient/*.cruds"),
            "user/*.rs",
            ("system/*.cruds", "patient/*.cruds"),
        ),
        (
            tf.citizen_claims(scopes="patient/*.rs user/Patient.r system/*.cruds"),
            "patient/*.rs user/Patient.r",
            ("system/*.cruds",),
        ),
    ],
)
def test_scopes_narrow_to_the_contexts_of_the_user_type(
    claims: dict[str, Any], granted: str, dropped: tuple[str, ...]
) -> None:
    p = Principal.from_claims(claims)
    assert str(p.scopes) == granted
    assert p.scopes.ignored == dropped


def test_scope_as_a_list_is_accepted() -> None:
    p = Principal.from_claims(tf.system_claims(scope=["system/CarePlan.rs", "system/Patient.r"]))
    assert p.scopes.allows("Patient", "read") and not p.scopes.allows("Patient", "search")


def test_missing_scope_grants_nothing() -> None:
    p = Principal.from_claims(tf.system_claims(scope=DROP))
    assert not p.scopes
    assert not p.scopes.allows("CarePlan", "read")
