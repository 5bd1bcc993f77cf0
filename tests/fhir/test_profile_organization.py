"""esp-organization (SOR code), esp-municipality (+ kommunekode), esp-gp-clinic (+ ydernummer)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import (
    ESP_GP_CLINIC,
    ESP_MUNICIPALITY,
    ESP_ORGANIZATION,
    MUNICIPALITY_CODE_SYSTEM,
    SOR_SYSTEM,
    ProfileCatalog,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _organizations(bundle: str) -> dict[str, dict[str, Any]]:
    data = json.loads(
        (ROOT / "fhir_profiles/examples" / f"Bundle-{bundle}.json").read_text("utf-8")
    )
    return {
        e["resource"]["name"]: e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Organization"
    }


ORGS = _organizations("discharge-agreement")
REGION_UNIT = ORGS["Regionspsykiatrien Horsens"]  # SOR + regionskode
MUNICIPALITY = ORGS["Hedensted Kommune"]  # SOR + kommunekode
GP_CLINIC = ORGS["Lægerne i Hedensted"]  # SOR + ydernummer


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        target = resource
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _errors(resource: dict[str, Any], profile: str) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    issues = CATALOG.validate(resource, [profile])
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(base: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    resource = copy.deepcopy(base)
    mutation(resource)
    return resource


VALID = [
    pytest.param(REGION_UNIT, ESP_ORGANIZATION, id="region-unit"),
    pytest.param(MUNICIPALITY, ESP_MUNICIPALITY, id="municipality"),
    pytest.param(GP_CLINIC, ESP_GP_CLINIC, id="gp-clinic"),
    pytest.param(MUNICIPALITY, ESP_ORGANIZATION, id="municipality-is-an-organization"),
    pytest.param(
        {
            "resourceType": "Organization",
            "name": "Testafdeling",
            "identifier": [
                {"system": SOR_SYSTEM, "value": "123456"},
                {"system": SOR_SYSTEM, "value": "654321"},
                {"system": "http://cvr.dk", "value": "29189838"},
            ],
        },
        ESP_ORGANIZATION,
        id="two-sor-codes-and-cvr",
    ),
]

INVALID = [
    pytest.param(
        REGION_UNIT,
        ESP_ORGANIZATION,
        _set(("identifier", 0, "system"), "http://cvr.dk"),
        [("Organization.identifier", "Organization.identifier:sor")],
        id="no-sor",
    ),
    pytest.param(
        REGION_UNIT,
        ESP_ORGANIZATION,
        _set(("identifier", 0, "value"), "SOR-6038"),
        [("Organization.identifier[0].value", "esp-org-1")],
        id="sor-not-digits",
    ),
    pytest.param(
        MUNICIPALITY,
        ESP_MUNICIPALITY,
        _set(("identifier", 1, "value"), "9999"),
        [("Organization.identifier[1].value", "Organization.identifier:kommunekode.value")],
        id="unknown-kommunekode",
    ),
    pytest.param(
        MUNICIPALITY,
        ESP_MUNICIPALITY,
        _set(("identifier", 1, "value"), "766"),
        [("Organization.identifier[1].value", "Organization.identifier:kommunekode.value")],
        id="kommunekode-without-leading-zero",
    ),
    pytest.param(
        REGION_UNIT,
        ESP_ORGANIZATION,
        _set(("identifier", 1, "value"), "DK-99"),
        [("Organization.identifier[1].value", "Organization.identifier:regionskode.value")],
        id="unknown-regionskode",
    ),
    pytest.param(
        GP_CLINIC,
        ESP_GP_CLINIC,
        _set(("identifier", 1, "value"), "45 287"),
        [("Organization.identifier[1].value", "esp-org-2")],
        id="ydernummer-with-space",
    ),
    pytest.param(
        MUNICIPALITY,
        ESP_MUNICIPALITY,
        lambda r: r["identifier"].pop(1),
        [("Organization.identifier", "Organization.identifier:kommunekode")],
        id="municipality-without-kommunekode",
    ),
    pytest.param(
        GP_CLINIC,
        ESP_GP_CLINIC,
        lambda r: r["identifier"].pop(1),
        [("Organization.identifier", "Organization.identifier:ydernummer")],
        id="gp-clinic-without-ydernummer",
    ),
    pytest.param(
        MUNICIPALITY,
        ESP_MUNICIPALITY,
        lambda r: r["identifier"].append({"system": MUNICIPALITY_CODE_SYSTEM, "value": "0615"}),
        [("Organization.identifier[2]", "Organization.identifier:kommunekode")],
        id="two-kommunekoder",
    ),
    pytest.param(
        REGION_UNIT,
        ESP_ORGANIZATION,
        lambda r: r.pop("name"),
        [("Organization.name", "Organization.name")],
        id="no-name",
    ),
]


@pytest.mark.parametrize(("organization", "profile"), VALID)
def test_valid_organization(organization: dict[str, Any], profile: str) -> None:
    assert _errors(organization, profile) == []


@pytest.mark.parametrize(("base", "profile", "mutation", "expected"), INVALID)
def test_invalid_organization(
    base: dict[str, Any], profile: str, mutation: Mutation, expected: list[tuple[str, str]]
) -> None:
    assert _errors(_with(base, mutation), profile) == expected


def test_all_99_municipality_codes_are_accepted() -> None:
    codes = json.loads(
        (ROOT / "fhir_profiles/dependencies/CodeSystem-dk-core-municipality-codes.json").read_text(
            "utf-8"
        )
    )["concept"]
    assert len(codes) == 99
    for concept in codes:
        municipality = _with(MUNICIPALITY, _set(("identifier", 1, "value"), concept["code"]))
        assert _errors(municipality, ESP_MUNICIPALITY) == [], concept["code"]
