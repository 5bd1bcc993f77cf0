"""esp-condition: SKS-D or ICPC-2 codes only; clinicalStatus and recordedDate required."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import ESP_CONDITION, ICPC2_SYSTEM, SKS_D_SYSTEM, ProfileCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _example(bundle: str) -> dict[str, Any]:
    data = json.loads(
        (ROOT / "fhir_profiles/examples" / f"Bundle-{bundle}.json").read_text("utf-8")
    )
    return next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Condition"
    )


COPD = _example("pathway-plan-copd")  # ICPC-2 R95 + SKS-D DJ449
BASE = _example("rehabilitation-plan")  # SKS-D DS720


def _codings(*codings: tuple[str, str]) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        resource["code"]["coding"] = [{"system": s, "code": c} for s, c in codings]

    return mutate


def _drop(name: str) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        del resource[name]

    return mutate


def _errors(resource: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    issues = CATALOG.validate(resource)  # meta.profile names esp-condition
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(base: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    resource = copy.deepcopy(base)
    mutation(resource)
    return resource


SNOMED = "http://snomed.info/sct"
CODING = "Condition.code.coding"

VALID = [
    pytest.param(BASE, lambda r: None, id="sks-hip-fracture"),
    pytest.param(COPD, lambda r: None, id="icpc2-and-sks-copd"),
    pytest.param(BASE, _codings((ICPC2_SYSTEM, "T90")), id="icpc2-only"),
    pytest.param(BASE, _codings((SKS_D_SYSTEM, "DE11")), id="sks-category-code"),
    pytest.param(BASE, _codings((SKS_D_SYSTEM, "DZ038A")), id="sks-with-letter-suffix"),
]

INVALID = [
    pytest.param(
        _codings((SNOMED, "13645005")),
        [("Condition.code.coding[0].code", CODING)],
        id="snomed-only",
    ),
    pytest.param(
        _codings((SKS_D_SYSTEM, "DE119"), (SNOMED, "44054006")),
        [("Condition.code.coding[1].code", CODING)],
        id="snomed-translation-not-allowed",
    ),
    pytest.param(
        _codings((SKS_D_SYSTEM, "E119")),
        [("Condition.code.coding[0].code", CODING)],
        id="sks-without-leading-d",
    ),
    pytest.param(
        _codings((ICPC2_SYSTEM, "T9")),
        [("Condition.code.coding[0].code", CODING)],
        id="icpc2-malformed",
    ),
    pytest.param(
        lambda r: r["code"].pop("coding"), [("Condition.code.coding", CODING)], id="text-only"
    ),
    pytest.param(_drop("code"), [("Condition.code", "Condition.code")], id="no-code"),
    pytest.param(
        _drop("recordedDate"),
        [("Condition.recordedDate", "Condition.recordedDate")],
        id="no-recorded-date",
    ),
    pytest.param(
        _drop("clinicalStatus"),
        [("Condition.clinicalStatus", "Condition.clinicalStatus")],
        id="no-clinical-status",
    ),
    pytest.param(
        lambda r: r.update(subject={"reference": "Group/hold-1"}),
        [("Condition.subject", "Condition.subject")],
        id="subject-is-a-group",
    ),
]


@pytest.mark.parametrize(("base", "mutation"), VALID)
def test_valid_condition(base: dict[str, Any], mutation: Mutation) -> None:
    assert _errors(_with(base, mutation)) == []


@pytest.mark.parametrize(("mutation", "expected"), INVALID)
def test_invalid_condition(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert _errors(_with(BASE, mutation)) == expected


def test_condition_without_meta_profile_is_not_forced() -> None:
    """Only plans are always validated; a Condition is validated when it names esp-condition."""
    bare = _with(BASE, _codings((SNOMED, "13645005")))
    del bare["meta"]
    assert CATALOG.validate(bare) == []
    assert [i.rule for i in CATALOG.validate(bare, [ESP_CONDITION])] == [CODING]
