"""esp-pathway-plan: the GP's forløbsplan for KOL or type 2 diabetes (2022 health reform)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import (
    ESP_PATHWAY_PLAN,
    ICPC2_SYSTEM,
    PLAN_TYPE_SYSTEM,
    SKS_D_SYSTEM,
    ProfileCatalog,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _bundle(name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    data = json.loads((ROOT / "fhir_profiles/examples" / f"Bundle-{name}.json").read_text("utf-8"))
    entries = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    plan = next(r for r in entries.values() if r["resourceType"] == "CarePlan")
    return plan, entries


COPD, COPD_ENTRIES = _bundle("pathway-plan-copd")
T2D, T2D_ENTRIES = _bundle("pathway-plan-t2d")
ENTRIES = {**COPD_ENTRIES, **T2D_ENTRIES}
COPD_CONDITION = COPD["addresses"][0]["reference"]
T2D_CONDITION = T2D["addresses"][0]["reference"]


def _errors(
    plan: dict[str, Any],
    entries: dict[str, dict[str, Any]] | None = None,
    profiles: list[str] | None = None,
) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(plan["resourceType"]).model_validate(plan)
    lookup = ENTRIES if entries is None else entries
    issues = CATALOG.validate(plan, profiles, resolve=lookup.get)
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(base: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    plan = copy.deepcopy(base)
    mutation(plan)
    return plan


def _condition(*codings: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """The entries with the COPD plan's condition recoded."""
    entries = copy.deepcopy(ENTRIES)
    entries[COPD_CONDITION]["code"]["coding"] = [{"system": s, "code": c} for s, c in codings]
    return entries


def _without_care_team(plan: dict[str, Any]) -> None:
    del plan["careTeam"], plan["contained"]


def _addresses(reference: str) -> Mutation:
    return lambda p: p.update(addresses=[{"reference": reference}])


VALID = [
    pytest.param(COPD, ENTRIES, id="kol-example"),
    pytest.param(T2D, ENTRIES, id="t2d-example"),
    pytest.param(COPD, _condition((ICPC2_SYSTEM, "R95")), id="kol-icpc2-only"),
    pytest.param(COPD, _condition((SKS_D_SYSTEM, "DJ44")), id="kol-sks-category-code"),
    pytest.param(COPD, _condition((SKS_D_SYSTEM, "DJ441")), id="kol-sks-with-exacerbation"),
    pytest.param(_with(COPD, _without_care_team), ENTRIES, id="no-care-team"),
    pytest.param(
        _with(T2D, lambda p: p["addresses"].insert(0, {"reference": COPD_CONDITION})),
        ENTRIES,
        id="t2d-with-comorbidity",
    ),
]

INVALID = [
    pytest.param(
        COPD, _addresses(T2D_CONDITION), [("CarePlan", "esp-pp-1")], id="kol-plan-for-diabetes"
    ),
    pytest.param(
        T2D, _addresses(COPD_CONDITION), [("CarePlan", "esp-pp-2")], id="t2d-plan-for-kol"
    ),
    pytest.param(COPD, lambda p: p.pop("goal"), [("CarePlan.goal", "CarePlan.goal")], id="no-goal"),
    pytest.param(
        COPD,
        lambda p: p.pop("addresses"),
        [("CarePlan", "esp-pp-1"), ("CarePlan.addresses", "CarePlan.addresses")],
        id="no-diagnosis",
    ),
    pytest.param(
        T2D,
        lambda p: p["activity"][2]["detail"]["code"]["coding"][0].update(code="yoga"),
        [("CarePlan.activity[2].detail.code.coding[0].code", "CarePlan.activity.detail.code")],
        id="activity-not-in-quality-package",
    ),
    pytest.param(
        T2D,
        lambda p: p["activity"][0]["detail"].pop("code"),
        [("CarePlan.activity[0].detail.code", "CarePlan.activity.detail.code")],
        id="activity-without-code",
    ),
    pytest.param(
        T2D,
        lambda p: p.update(activity=[]),
        [("CarePlan.activity", "CarePlan.activity")],
        id="no-activities",
    ),
    pytest.param(
        COPD,
        lambda p: p.update(
            author={"reference": COPD["contained"][0]["participant"][1]["member"]["reference"]}
        ),
        [("CarePlan.author", "CarePlan.author")],
        id="author-is-the-municipality",
    ),
    pytest.param(
        COPD,
        lambda p: p["goal"].append({"reference": "Condition/1"}),
        [("CarePlan.goal[2]", "CarePlan.goal")],
        id="goal-is-a-condition",
    ),
    pytest.param(
        COPD,
        lambda p: p.update(subject={"reference": COPD_CONDITION}),
        [("CarePlan.subject", "CarePlan.subject")],
        id="subject-resolves-to-a-condition",
    ),
]


@pytest.mark.parametrize(("plan", "entries"), VALID)
def test_valid_pathway_plan(plan: dict[str, Any], entries: dict[str, dict[str, Any]]) -> None:
    assert _errors(plan, entries) == []


@pytest.mark.parametrize(("base", "mutation", "expected"), INVALID)
def test_invalid_pathway_plan(
    base: dict[str, Any], mutation: Mutation, expected: list[tuple[str, str]]
) -> None:
    assert _errors(_with(base, mutation)) == expected


@pytest.mark.parametrize(
    ("codings", "expected"),
    [
        pytest.param([(SKS_D_SYSTEM, "DE119")], [("CarePlan", "esp-pp-1")], id="sks-diabetes"),
        pytest.param([(ICPC2_SYSTEM, "R96")], [("CarePlan", "esp-pp-1")], id="icpc2-asthma"),
        pytest.param([(SKS_D_SYSTEM, "DJ45")], [("CarePlan", "esp-pp-1")], id="sks-asthma"),
        pytest.param(
            [(SKS_D_SYSTEM, "R95")],
            [("CarePlan", "esp-pp-1"), ("CarePlan.addresses[0]", "CarePlan.addresses")],
            id="icpc2-code-in-sks-system",
        ),
    ],
)
def test_kol_plan_needs_a_kol_diagnosis(
    codings: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert _errors(COPD, _condition(*codings)) == expected


def test_addressed_condition_must_conform_to_esp_condition() -> None:
    entries = copy.deepcopy(ENTRIES)
    del entries[COPD_CONDITION]["recordedDate"]
    [issue] = [i for i in CATALOG.validate(COPD, resolve=entries.get) if i.severity == "error"]
    assert (issue.expression, issue.rule) == (("CarePlan.addresses[0]",), "CarePlan.addresses")
    assert "Condition.recordedDate" in issue.diagnostics


def test_without_a_resolver_the_diagnosis_check_is_skipped_not_failed() -> None:
    plan = _with(COPD, _addresses(T2D_CONDITION))
    issues = CATALOG.validate(plan)
    assert [(i.severity, i.rule) for i in issues] == [("information", "esp-pp-1")]


def test_a_contained_condition_is_checked_without_a_resolver() -> None:
    plan = _with(COPD, lambda p: None)
    condition = copy.deepcopy(ENTRIES[T2D_CONDITION]) | {"id": "diagnose"}
    plan["contained"].append(condition)
    plan["addresses"] = [{"reference": "#diagnose"}]
    assert _errors(plan, {}) == [("CarePlan", "esp-pp-1")]


def test_explicit_profile_checks_the_plan_type_binding() -> None:
    plan = _with(
        COPD,
        lambda p: p.update(
            category=[{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "rehabilitation-plan"}]}]
        ),
    )
    assert _errors(plan, profiles=[ESP_PATHWAY_PLAN]) == [
        ("CarePlan.category[0].coding[0].code", "CarePlan.category:planType")
    ]
