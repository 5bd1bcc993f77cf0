"""esp-goal: description text, lifecycleStatus, subject, targets with a due date or a measure."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import ProfileCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _goals(bundle: str) -> list[dict[str, Any]]:
    data = json.loads(
        (ROOT / "fhir_profiles/examples" / f"Bundle-{bundle}.json").read_text("utf-8")
    )
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Goal"]


BASE = _goals("pathway-plan-t2d")[0]  # HbA1c < 53 mmol/mol


def _errors(resource: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    issues = CATALOG.validate(resource)
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(mutation: Mutation) -> dict[str, Any]:
    resource = copy.deepcopy(BASE)
    mutation(resource)
    return resource


def _targets(*targets: dict[str, Any]) -> Mutation:
    return lambda r: r.update(target=list(targets))


VALID = [
    *(
        pytest.param(g, id=f"example-{g['identifier'][0]['value'][-6:]}")
        for name in (
            "discharge-agreement",
            "pathway-plan-copd",
            "pathway-plan-t2d",
            "rehabilitation-plan",
        )
        for g in _goals(name)
    ),
    pytest.param(_with(_targets({"dueDate": "2027-01-01"})), id="due-date-only"),
    pytest.param(_with(_targets({"measure": {"text": "Vægt"}})), id="measure-only"),
    pytest.param(
        _with(
            _targets(
                {
                    "dueDuration": {
                        "value": 3,
                        "unit": "mo",
                        "system": "http://unitsofmeasure.org",
                        "code": "mo",
                    }
                }
            )
        ),
        id="due-duration",
    ),
]

INVALID = [
    pytest.param(
        _targets({"detailString": "Bedre"}),
        [("Goal.target[0]", "esp-goal-1")],
        id="target-without-due-or-measure",
    ),
    pytest.param(
        _targets({"dueDate": "2027-01-01"}, {"detailString": "Bedre"}),
        [("Goal.target[1]", "esp-goal-1")],
        id="second-target-without-due-or-measure",
    ),
    pytest.param(lambda r: r.pop("target"), [("Goal.target", "Goal.target")], id="no-target"),
    pytest.param(
        lambda r: r.update(
            description={"coding": [{"system": "http://snomed.info/sct", "code": "289169006"}]}
        ),
        [("Goal.description.text", "Goal.description.text")],
        id="description-without-text",
    ),
    pytest.param(
        lambda r: r.update(subject={"reference": "Group/diabetesskole-hold-3"}),
        [("Goal.subject", "Goal.subject")],
        id="subject-is-a-group",
    ),
    pytest.param(
        lambda r: r.update(subject={"reference": "Organization/1", "type": "Organization"}),
        [("Goal.subject", "Goal.subject")],
        id="subject-is-an-organization",
    ),
]


@pytest.mark.parametrize("goal", VALID)
def test_valid_goal(goal: dict[str, Any]) -> None:
    assert _errors(goal) == []


@pytest.mark.parametrize(("mutation", "expected"), INVALID)
def test_invalid_goal(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert _errors(_with(mutation)) == expected
