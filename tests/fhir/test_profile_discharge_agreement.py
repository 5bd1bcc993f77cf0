"""esp-discharge-agreement: udskrivningsaftale (psykiatriloven §13a, with the patient) and
koordinationsplan (§13b, without the patient)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import (
    ESP_DISCHARGE_AGREEMENT,
    HIDDEN_FROM_CUSTODY_HOLDER,
    PLAN_TYPE_SYSTEM,
    SECURITY_LABEL_SYSTEM,
    ProfileCatalog,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _bundle(name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The example's CarePlan and its transaction entries by fullUrl (the resolver's view)."""
    data = json.loads((ROOT / "fhir_profiles/examples" / f"Bundle-{name}.json").read_text("utf-8"))
    entries = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    plan = next(r for r in entries.values() if r["resourceType"] == "CarePlan")
    return plan, entries


AGREEMENT, AGREEMENT_ENTRIES = _bundle("discharge-agreement")  # §13a
COORDINATION, COORDINATION_ENTRIES = _bundle("coordination-plan")  # §13b
ENTRIES = {**AGREEMENT_ENTRIES, **COORDINATION_ENTRIES}


def _org(name: str) -> str:
    return next(url for url, r in ENTRIES.items() if r.get("name") == name)


def _errors(plan: dict[str, Any], resolve: bool = True) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(plan["resourceType"]).model_validate(plan)
    issues = CATALOG.validate(plan, resolve=ENTRIES.get if resolve else None)
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(base: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    plan = copy.deepcopy(base)
    mutation(plan)
    return plan


def _participation(code: str) -> Mutation:
    return lambda p: p["extension"][0]["valueCoding"].update(code=code)


def _participants(plan: dict[str, Any]) -> list[dict[str, Any]]:
    participants: list[dict[str, Any]] = plan["contained"][0]["participant"]
    return participants


def _label(plan: dict[str, Any]) -> None:
    plan["meta"]["security"] = [
        {"system": SECURITY_LABEL_SYSTEM, "code": HIDDEN_FROM_CUSTODY_HOLDER}
    ]


def _no_meta(plan: dict[str, Any]) -> None:
    del plan["meta"]


def _without_gp_and_discharge_date(plan: dict[str, Any]) -> None:
    del _participants(plan)[2]
    del plan["extension"][1]


VALID = [
    pytest.param(AGREEMENT, lambda p: None, id="udskrivningsaftale-13a"),
    pytest.param(COORDINATION, lambda p: None, id="koordinationsplan-13b"),
    pytest.param(COORDINATION, _participation("unable"), id="13b-patient-unable"),
    pytest.param(AGREEMENT, _without_gp_and_discharge_date, id="13a-without-gp-and-discharge-date"),
    pytest.param(AGREEMENT, _label, id="hidden-from-custody-holder"),
    pytest.param(AGREEMENT, _no_meta, id="no-meta-profile"),
]

INVALID = [
    pytest.param(
        AGREEMENT,
        _participation("declined"),
        [("CarePlan", "esp-da-1")],
        id="13a-without-the-patient",
    ),
    pytest.param(
        COORDINATION,
        _participation("participated"),
        [("CarePlan", "esp-da-2")],
        id="13b-with-the-patient",
    ),
    pytest.param(
        COORDINATION,
        lambda p: p["extension"].pop(0),
        [("CarePlan.extension", "CarePlan.extension:patientParticipation")],
        id="no-participation",
    ),
    pytest.param(
        COORDINATION,
        _participation("nej"),
        [("CarePlan.extension[0].valueCoding.code", "Extension.value[x]")],
        id="participation-code-unknown",
    ),
    pytest.param(
        COORDINATION,
        lambda p: p["extension"].__setitem__(
            1, {"url": p["extension"][1]["url"], "valueDateTime": "2026-11-26T10:00:00+01:00"}
        ),
        [("CarePlan.extension[1].valueDateTime", "Extension.value[x]")],
        id="discharge-date-with-time",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: _participants(p).pop(1),
        [("CarePlan.contained[0].participant", "CareTeam.participant:municipality")],
        id="no-municipality-party",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: _participants(p).pop(0),
        [("CarePlan.contained[0].participant", "CareTeam.participant:region")],
        id="no-region-party",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: _participants(p)[1]["member"].pop("identifier"),
        [
            (
                "CarePlan.contained[0].participant[1].member.identifier",
                "CareTeam.participant.member.identifier",
            )
        ],
        id="party-without-sor",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: _participants(p)[1]["member"].update(reference=_org("Lægerne i Hedensted")),
        [
            (
                "CarePlan.contained[0].participant[1].member",
                "CareTeam.participant:municipality.member",
            )
        ],
        id="municipality-party-is-a-gp-clinic",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p.update(careTeam=[{"reference": "CareTeam/parter"}]),
        [("CarePlan.careTeam[0]", "esp-cp-1")],
        id="care-team-not-contained",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p.update(careTeam=[{"reference": "#andre"}]),
        [("CarePlan.careTeam[0]", "CarePlan.careTeam")],
        id="care-team-not-found",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p["activity"][0]["detail"].pop("performer"),
        [("CarePlan.activity[0].detail.performer", "CarePlan.activity.detail.performer")],
        id="activity-without-performer",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p["activity"][1]["detail"].pop("description"),
        [("CarePlan.activity[1].detail.description", "CarePlan.activity.detail.description")],
        id="activity-without-description",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p["period"].pop("start"),
        [("CarePlan.period.start", "CarePlan.period.start")],
        id="no-period-start",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p.update(author={"reference": "Patient/1"}),
        [("CarePlan.author", "CarePlan.author")],
        id="author-is-a-patient",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p.update(intent="proposal"),
        [("CarePlan.intent", "CarePlan.intent")],
        id="intent-not-plan",
    ),
    pytest.param(
        AGREEMENT,
        lambda p: p["category"][0]["coding"][0].update(code="udskrivningsaftale"),
        [
            ("CarePlan.category[0].coding[0].code", "plan-type"),
            ("CarePlan.category[0].coding[0].code", "CarePlan.category:planType"),
        ],
        id="unknown-plan-type",
    ),
]


@pytest.mark.parametrize(("base", "mutation"), VALID)
def test_valid_discharge_plan(base: dict[str, Any], mutation: Mutation) -> None:
    assert _errors(_with(base, mutation)) == []


@pytest.mark.parametrize(("base", "mutation", "expected"), INVALID)
def test_invalid_discharge_plan(
    base: dict[str, Any], mutation: Mutation, expected: list[tuple[str, str]]
) -> None:
    assert _errors(_with(base, mutation)) == expected


def test_13a_vs_13b_is_decided_by_category_alone() -> None:
    """Turning an udskrivningsaftale into a koordinationsplan without changing the patient's
    participation breaks esp-da-2, even without meta.profile."""
    plan = _with(AGREEMENT, _no_meta)
    plan["category"] = [{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "coordination-plan"}]}]
    assert CATALOG.profiles_for(plan) == [ESP_DISCHARGE_AGREEMENT]
    assert _errors(plan) == [("CarePlan", "esp-da-2")]


def test_party_identity_is_only_checked_with_a_resolver() -> None:
    plan = _with(
        AGREEMENT,
        lambda p: _participants(p)[1]["member"].update(reference=_org("Lægerne i Hedensted")),
    )
    assert _errors(plan, resolve=False) == []
