"""The profile catalog: what is published, that it is valid R4, and which profiles apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy.models import models

from app.fhir.profiles import (
    CANONICAL_BASE,
    ESP_DISCHARGE_AGREEMENT,
    ESP_PATHWAY_PLAN,
    ESP_PATIENT,
    ESP_REHABILITATION_PLAN,
    HIDDEN_FROM_CUSTODY_HOLDER,
    PLAN_PROFILES,
    PLAN_TYPE_SYSTEM,
    SECURITY_LABEL_SYSTEM,
    PlanType,
    ProfileCatalog,
)

PROFILES_DIR = Path(__file__).resolve().parents[2] / "fhir_profiles"
CATALOG = ProfileCatalog.load(PROFILES_DIR)
PUBLISHED = sorted(PROFILES_DIR.glob("*.json"))
R4 = models["r4"]
# Backbone elements are not in path2Type, only their children are.
BACKBONES = {k.rsplit(".", 1)[0] for k in R4["path2Type"]} - set(R4["path2Type"])


def _plan(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": code}]}],
        "subject": {"reference": "Patient/1"},
        **extra,
    }


def test_every_published_file_is_served() -> None:
    served = {(r["resourceType"], r["id"]) for r in CATALOG.resources()}
    assert len(served) == len(PUBLISHED) > 30
    assert ("CodeSystem", "dk-core-municipality-codes") not in served  # a dependency, not ours


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_published_file_is_a_valid_r4_resource(path: Path) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    kind = resource["resourceType"]
    assert path.name == f"{kind}-{resource['id']}.json"
    assert resource["url"] == f"{CANONICAL_BASE}/{kind}/{resource['id']}"
    assert resource["name"] and resource["status"] == "active" and resource["version"]


@pytest.mark.parametrize(
    "url", sorted(CATALOG.structure_definitions), ids=lambda u: u.rsplit("/", 1)[1]
)
def test_every_differential_path_exists_in_r4(url: str) -> None:
    """Catch typos: each element path must be an R4 element (fhirpathpy's R4 model)."""
    for element in CATALOG.structure_definitions[url]["differential"]["element"]:
        segments = element["path"].split(".")
        current = segments[0]
        for name in segments[1:]:
            candidate = f"{current}.{name}"
            if name.endswith("[x]"):
                assert candidate[:-3] in R4["choiceTypePaths"], element["id"]
                break
            assert candidate in R4["path2Type"] or candidate in BACKBONES, element["id"]
            type_name = R4["path2Type"].get(candidate, "BackboneElement")
            current = candidate if type_name in ("BackboneElement", "Element") else type_name


def test_plan_types_have_danish_designations_and_profiles() -> None:
    plan_types = CATALOG.code_systems[PLAN_TYPE_SYSTEM]
    danish = {c["code"]: c["designation"][0]["value"] for c in plan_types["concept"]}
    assert danish == {
        "discharge-agreement": "Udskrivningsaftale",
        "coordination-plan": "Koordinationsplan",
        "pathway-plan-copd": "Forløbsplan for KOL",
        "pathway-plan-t2d": "Forløbsplan for type 2-diabetes",
        "rehabilitation-plan": "Genoptræningsplan",
    }
    assert set(danish) == set(PLAN_PROFILES) == {p.value for p in PlanType}
    for code, url in PLAN_PROFILES.items():
        assert CATALOG.profiles[url].type == "CarePlan", code


def test_plan_profiles_accept_their_own_plan_types() -> None:
    """PLAN_PROFILES and the profiles' category slices agree (no plan type routed to a profile
    that rejects it)."""
    for code, url in PLAN_PROFILES.items():
        issues = CATALOG.validate(_plan(code), [url])
        category_issues = [
            i for i in issues if i.rule and i.rule.startswith("CarePlan.category:planType")
        ]
        assert category_issues == [], code


def test_security_label_code() -> None:
    labels = CATALOG.code_systems[SECURITY_LABEL_SYSTEM]["concept"]
    assert [(c["code"], c["designation"][0]["value"]) for c in labels] == [
        (HIDDEN_FROM_CUSTODY_HOLDER, "Skjult for forældremyndighedsindehaver")
    ]


@pytest.mark.parametrize(
    ("code", "profile"),
    [
        ("discharge-agreement", ESP_DISCHARGE_AGREEMENT),
        ("coordination-plan", ESP_DISCHARGE_AGREEMENT),
        ("pathway-plan-copd", ESP_PATHWAY_PLAN),
        ("pathway-plan-t2d", ESP_PATHWAY_PLAN),
        ("rehabilitation-plan", ESP_REHABILITATION_PLAN),
    ],
)
def test_a_plan_without_meta_profile_gets_its_plan_profile(code: str, profile: str) -> None:
    plan = _plan(code)
    assert CATALOG.profiles_for(plan) == [profile]
    errors = [i for i in CATALOG.validate(plan) if i.severity == "error"]
    assert ("CarePlan.period", "CarePlan.period") in {(i.expression[0], i.rule) for i in errors}


def test_meta_profile_and_category_both_apply_once() -> None:
    plan = _plan(
        "rehabilitation-plan", meta={"profile": [ESP_PATHWAY_PLAN, ESP_REHABILITATION_PLAN]}
    )
    assert CATALOG.profiles_for(plan) == [ESP_PATHWAY_PLAN, ESP_REHABILITATION_PLAN]


def test_unknown_plan_type_is_an_error() -> None:
    issues = CATALOG.validate(_plan("udskrivningsaftale"))
    assert [(i.severity, i.expression, i.rule) for i in issues] == [
        ("error", ("CarePlan.category[0].coding[0].code",), "plan-type")
    ]


def test_unknown_profile_of_our_base_is_an_error() -> None:
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/nope"]},
    }
    issues = CATALOG.validate(patient)
    assert [(i.severity, i.expression, i.rule) for i in issues] == [
        ("error", ("Patient.meta.profile[0]",), "meta.profile")
    ]


def test_foreign_profile_is_reported_as_information_only() -> None:
    dk_core = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient"
    issues = CATALOG.validate({"resourceType": "Patient", "meta": {"profile": [dk_core]}})
    assert [(i.severity, i.expression) for i in issues] == [
        ("information", ("Patient.meta.profile[0]",))
    ]
    assert CATALOG.profiles_for({"resourceType": "Patient", "meta": {"profile": [dk_core]}}) == []


def test_profile_for_another_resource_type_is_an_error() -> None:
    issues = CATALOG.validate({"resourceType": "Organization", "meta": {"profile": [ESP_PATIENT]}})
    assert [(i.expression, i.rule) for i in issues] == [
        (("Organization.meta.profile[0]",), "meta.profile")
    ]


def test_explicit_profile_urls_replace_selection() -> None:
    patient = {"resourceType": "Patient"}
    assert CATALOG.validate(patient) == []
    rules = {i.rule for i in CATALOG.validate(patient, [ESP_PATIENT])}
    assert {"Patient.identifier:cpr", "Patient.name:official"} <= rules


def test_versioned_meta_profile_is_accepted() -> None:
    assert CATALOG.profiles_for(
        {"resourceType": "Patient", "meta": {"profile": [ESP_PATIENT + "|0.1.0"]}}
    ) == [ESP_PATIENT]
