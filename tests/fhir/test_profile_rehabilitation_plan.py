"""esp-rehabilitation-plan: genoptræningsplan (sundhedsloven §140) with GOP type, discharge date
and the receiving municipality."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import GOP_TYPE_SYSTEM, ProfileCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]

_DATA = json.loads(
    (ROOT / "fhir_profiles/examples/Bundle-rehabilitation-plan.json").read_text("utf-8")
)
ENTRIES = {e["fullUrl"]: e["resource"] for e in _DATA["entry"]}
BASE = next(r for r in ENTRIES.values() if r["resourceType"] == "CarePlan")
MUNICIPALITY = BASE["contained"][0]["participant"][0]  # Horsens Kommune, the receiving municipality


def _errors(
    plan: dict[str, Any], entries: dict[str, dict[str, Any]] = ENTRIES
) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(plan["resourceType"]).model_validate(plan)
    issues = CATALOG.validate(plan, resolve=entries.get)
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(mutation: Mutation) -> dict[str, Any]:
    plan: dict[str, Any] = copy.deepcopy(BASE)
    mutation(plan)
    return plan


def _gop(code: str) -> Mutation:
    return lambda p: p["category"].__setitem__(
        1, {"coding": [{"system": GOP_TYPE_SYSTEM, "code": code}]}
    )


def _participants(plan: dict[str, Any]) -> list[dict[str, Any]]:
    participants: list[dict[str, Any]] = plan["contained"][0]["participant"]
    return participants


def _without_goal_categories_reversed(plan: dict[str, Any]) -> None:
    del plan["goal"]
    plan["category"].reverse()


def _without_care_team(plan: dict[str, Any]) -> None:
    del plan["careTeam"], plan["contained"]


def del_(items: list[Any], *indexes: int) -> None:
    for index in sorted(indexes, reverse=True):
        del items[index]


VALID = [
    pytest.param(lambda p: None, id="example-avanceret"),
    pytest.param(_gop("basal"), id="basal"),
    pytest.param(_gop("almen"), id="almen"),
    pytest.param(_gop("specialiseret"), id="specialiseret"),
    pytest.param(_gop("rehabilitering-specialiseret"), id="rehabilitering-specialiseret"),
    pytest.param(lambda p: del_(_participants(p), 1, 2), id="municipality-only"),
    pytest.param(_without_goal_categories_reversed, id="no-goal-categories-reversed"),
]


INVALID = [
    pytest.param(
        lambda p: p["category"].pop(1),
        [("CarePlan.category", "CarePlan.category:gopType")],
        id="no-gop-type",
    ),
    pytest.param(
        _gop("intensiv"),
        [("CarePlan.category[1].coding[0].code", "CarePlan.category:gopType")],
        id="unknown-gop-type",
    ),
    pytest.param(
        lambda p: p["category"].append({"coding": [{"system": GOP_TYPE_SYSTEM, "code": "basal"}]}),
        [("CarePlan.category[2]", "CarePlan.category:gopType")],
        id="two-gop-types",
    ),
    pytest.param(
        lambda p: p.pop("extension"),
        [("CarePlan.extension", "CarePlan.extension:dischargeDate")],
        id="no-discharge-date",
    ),
    pytest.param(
        lambda p: p["extension"].__setitem__(
            0, {"url": p["extension"][0]["url"], "valueString": "21. november"}
        ),
        [("CarePlan.extension[0].valueString", "Extension.value[x]")],
        id="discharge-date-as-text",
    ),
    pytest.param(
        lambda p: _participants(p).append(copy.deepcopy(MUNICIPALITY)),
        [("CarePlan.contained[0].participant[3]", "CareTeam.participant:municipality")],
        id="two-receiving-municipalities",
    ),
    pytest.param(
        lambda p: _participants(p).pop(0),
        [("CarePlan.contained[0].participant", "CareTeam.participant:municipality")],
        id="no-receiving-municipality",
    ),
    pytest.param(
        _without_care_team, [("CarePlan.careTeam", "CarePlan.careTeam")], id="no-care-team"
    ),
    pytest.param(
        lambda p: p.pop("addresses"),
        [("CarePlan.addresses", "CarePlan.addresses")],
        id="no-condition",
    ),
    pytest.param(
        lambda p: _participants(p)[1]["role"][0]["coding"][0].update(code="hospital"),
        [
            (
                "CarePlan.contained[0].participant[1].role[0].coding[0].code",
                "CareTeam.participant.role",
            )
        ],
        id="unknown-party-role",
    ),
    pytest.param(
        lambda p: _participants(p)[0]["member"]["identifier"].update(
            system="urn:oid:1.2.208.176.1.3"
        ),
        [
            (
                "CarePlan.contained[0].participant[0].member.identifier.system",
                "CareTeam.participant.member.identifier.system",
            )
        ],
        id="party-identifier-not-sor",
    ),
]


@pytest.mark.parametrize("mutation", VALID)
def test_valid_rehabilitation_plan(mutation: Mutation) -> None:
    assert _errors(_with(mutation)) == []


@pytest.mark.parametrize(("mutation", "expected"), INVALID)
def test_invalid_rehabilitation_plan(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert _errors(_with(mutation)) == expected


def test_receiving_municipality_needs_kommunekode() -> None:
    entries = copy.deepcopy(ENTRIES)
    municipality = entries[MUNICIPALITY["member"]["reference"]]
    municipality["identifier"] = municipality["identifier"][:1]  # SOR code only
    assert _errors(BASE, entries) == [
        ("CarePlan.contained[0].participant[0].member", "CareTeam.participant:municipality.member")
    ]
