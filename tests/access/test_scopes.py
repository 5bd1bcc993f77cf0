"""SMART v2 scopes: parsing, v1 aliases, granular filters, and fail-closed on bad syntax."""

from __future__ import annotations

import pytest

from app.access.scopes import Scope, ScopeNotGranted, ScopeSet, permission_for

PROBLEM_LIST = "http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"
ENCOUNTER_DX = "http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis"


@pytest.mark.parametrize(
    ("text", "context", "resource_type", "perms"),
    [
        ("patient/Observation.rs", "patient", "Observation", "rs"),
        ("user/*.cruds", "user", "*", "cruds"),
        ("system/CarePlan.c", "system", "CarePlan", "c"),
        ("system/CarePlan.cud", "system", "CarePlan", "cud"),
        ("user/Patient.s", "user", "Patient", "s"),
        # v1 aliases
        ("patient/Observation.read", "patient", "Observation", "rs"),
        ("user/CarePlan.write", "user", "CarePlan", "cud"),
        ("system/*.*", "system", "*", "cruds"),
    ],
)
def test_parse(text: str, context: str, resource_type: str, perms: str) -> None:
    scope = Scope.parse(text)
    assert scope is not None
    assert (scope.context, scope.resource_type) == (context, resource_type)
    assert scope.permissions == frozenset(perms)
    assert scope.params == ()


@pytest.mark.parametrize(
    "text",
    [
        "patient/Observation.sr",  # out of order
        "patient/Observation.rr",  # repeated
        "patient/Observation.x",
        "patient/Observation.",
        "patient/Observation",
        "practitioner/Observation.rs",  # unknown context
        "Patient/Observation.rs",
        "patient/observation.rs",  # not a resource type
        "patient/Obs-ervation.rs",
        "patient/*.read?category=x",  # parameters need v2 perms
        "patient/Condition.rs?",  # empty query
        "patient/Condition.rs?category",  # no value
        "patient/Condition.rs?category=",
        "patient/Condition.rs?category:not=x",  # modifiers could widen access
        "patient/Condition.rs?subject.name=x",  # chains too
        "patient/Condition.rs?category=a&&b",
        "/Observation.rs",
        "patient/Observation.rs extra",
    ],
)
def test_invalid_scopes_do_not_parse(text: str) -> None:
    assert Scope.parse(text) is None


@pytest.mark.parametrize(
    "scope_string",
    [
        "patient/Observation.sr",
        "patient/Observation.xyz",
        "practitioner/*.cruds",
        "patient/Condition.rs?category:not=x",
        "*/*.*",
    ],
)
def test_invalid_scopes_grant_nothing(scope_string: str) -> None:
    scopes = ScopeSet.parse(scope_string)
    assert not scopes
    assert scopes.ignored == (scope_string,)
    for interaction in "cruds":
        assert not scopes.allows("Observation", interaction)
        assert not scopes.allows("Condition", interaction)


def test_an_invalid_scope_does_not_spoil_valid_ones() -> None:
    scopes = ScopeSet.parse("patient/Observation.sr patient/Observation.r")
    assert scopes.allows("Observation", "read")
    assert not scopes.allows("Observation", "search")


def test_non_resource_scopes_are_kept_but_grant_nothing() -> None:
    scopes = ScopeSet.parse("openid fhirUser launch/patient offline_access")
    assert scopes.other == ("openid", "fhirUser", "launch/patient", "offline_access")
    assert not scopes
    assert not scopes.allows("Patient", "read")
    assert str(scopes) == "openid fhirUser launch/patient offline_access"


@pytest.mark.parametrize(
    ("interaction", "letter"),
    [
        ("create", "c"),
        ("read", "r"),
        ("vread", "r"),
        ("history", "r"),
        ("history-instance", "r"),
        ("update", "u"),
        ("patch", "u"),
        ("delete", "d"),
        ("search", "s"),
        ("search-type", "s"),
        ("history-type", "s"),  # SMART v2: type-level history needs s
        ("r", "r"),
    ],
)
def test_interactions_map_to_permissions(interaction: str, letter: str) -> None:
    assert permission_for(interaction) == letter


def test_unknown_interaction_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        permission_for("transmogrify")
    with pytest.raises(ValueError):
        permission_for("rs")


ALLOWS = [
    # scope string, resource type, interaction, allowed
    ("patient/Observation.rs", "Observation", "read", True),
    ("patient/Observation.rs", "Observation", "search", True),
    ("patient/Observation.rs", "Observation", "update", False),
    ("patient/Observation.rs", "Condition", "read", False),
    ("patient/Observation.read", "Observation", "search", True),
    ("patient/Observation.read", "Observation", "create", False),
    ("user/CarePlan.write", "CarePlan", "create", True),
    ("user/CarePlan.write", "CarePlan", "patch", True),
    ("user/CarePlan.write", "CarePlan", "delete", True),
    ("user/CarePlan.write", "CarePlan", "read", False),
    ("system/*.cruds", "CarePlan", "delete", True),
    ("system/*.cruds", "Patient", "vread", True),
    ("system/*.rs", "Patient", "update", False),
    ("user/Patient.c", "Patient", "read", False),
    ("", "Patient", "read", False),
]


@pytest.mark.parametrize(("scope_string", "resource_type", "interaction", "allowed"), ALLOWS)
def test_allows(scope_string: str, resource_type: str, interaction: str, allowed: bool) -> None:
    assert ScopeSet.parse(scope_string).allows(resource_type, interaction) is allowed


def test_granular_scope_is_kept_with_its_parameters() -> None:
    scope = Scope.parse(f"patient/Condition.rs?category={PROBLEM_LIST}")
    assert scope is not None
    assert scope.params == (("category", PROBLEM_LIST),)


def test_granular_parameters_are_percent_decoded_and_anded() -> None:
    scope = Scope.parse(
        "patient/Observation.rs?category=laboratory&code=http%3A%2F%2Floinc.org%7C1"
    )
    assert scope is not None
    assert scope.params == (("category", "laboratory"), ("code", "http://loinc.org|1"))


def test_unrestricted_scope_means_no_row_filter() -> None:
    scopes = ScopeSet.parse(f"patient/Condition.rs?category={PROBLEM_LIST} patient/Condition.rs")
    assert scopes.granular_filters("Condition", "search") is None


def test_only_granular_scopes_give_ored_filters() -> None:
    scopes = ScopeSet.parse(
        f"patient/Condition.rs?category={PROBLEM_LIST} patient/Condition.r?category={ENCOUNTER_DX}"
    )
    assert scopes.allows("Condition", "search")
    assert scopes.granular_filters("Condition", "search") == [(("category", PROBLEM_LIST),)]
    assert scopes.granular_filters("Condition", "read") == [
        (("category", PROBLEM_LIST),),
        (("category", ENCOUNTER_DX),),
    ]


def test_wildcard_granular_scope_applies_to_every_type() -> None:
    scopes = ScopeSet.parse("user/*.rs?_security=http://example.org|N")
    assert scopes.granular_filters("CarePlan", "read") == [(("_security", "http://example.org|N"),)]


def test_granular_filters_raise_when_nothing_grants() -> None:
    # An empty list could be read as "no filter"; refusing makes that mistake impossible.
    scopes = ScopeSet.parse(f"patient/Condition.rs?category={PROBLEM_LIST}")
    with pytest.raises(ScopeNotGranted):
        scopes.granular_filters("Condition", "update")
    with pytest.raises(ScopeNotGranted):
        scopes.granular_filters("Observation", "read")


def test_duplicate_scopes_are_collapsed() -> None:
    scopes = ScopeSet.parse("user/*.rs user/*.rs  user/Patient.c")
    assert [s.text for s in scopes.scopes] == ["user/*.rs", "user/Patient.c"]
    assert str(scopes) == "user/*.rs user/Patient.c"


def test_for_contexts_drops_other_contexts() -> None:
    scopes = ScopeSet.parse("system/*.cruds patient/*.rs openid").for_contexts("patient")
    assert [s.text for s in scopes.scopes] == ["patient/*.rs"]
    assert scopes.ignored == ("system/*.cruds",)
    assert scopes.other == ("openid",)
    assert not scopes.allows("CarePlan", "create")


@pytest.mark.parametrize(
    ("allowed", "requested", "ok"),
    [
        ("system/*.cruds", "system/CarePlan.rs", True),
        ("system/*.cruds", "system/*.cruds", True),
        ("system/*.cruds", "system/CarePlan.read", True),
        ("system/CarePlan.rs", "system/CarePlan.cruds", False),
        ("system/CarePlan.rs", "system/*.rs", False),
        ("system/CarePlan.rs", "system/Patient.rs", False),
        ("system/*.rs", "user/*.rs", False),
        ("system/*.rs", f"system/Condition.rs?category={PROBLEM_LIST}", True),
        (f"system/Condition.rs?category={PROBLEM_LIST}", "system/Condition.rs", False),
        (
            f"system/Condition.rs?category={PROBLEM_LIST}",
            f"system/Condition.r?category={PROBLEM_LIST}",
            True,
        ),
        ("system/*.rs", "system/*.sr", False),  # invalid requested scope
        ("system/*.rs", "openid", False),
        ("system/*.rs openid", "openid system/Patient.r", True),
    ],
)
def test_includes(allowed: str, requested: str, ok: bool) -> None:
    assert ScopeSet.parse(allowed).includes(ScopeSet.parse(requested)) is ok
