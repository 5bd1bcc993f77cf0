"""esp-patient: CPR identifier slice with DK-core's `cpr` invariant, official name with family."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import CPR_SYSTEM, ESP_PATIENT, ProfileCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
Mutation = Callable[[dict[str, Any]], None]


def _example(bundle: str, resource_type: str) -> dict[str, Any]:
    data = json.loads(
        (ROOT / "fhir_profiles/examples" / f"Bundle-{bundle}.json").read_text("utf-8")
    )
    return next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type
    )


BASE = _example("discharge-agreement", "Patient")


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        target = resource
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(*path: Any) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        target = resource
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _errors(resource: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The error issues as (expression, rule); the input must be structurally valid R4."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    issues = CATALOG.validate(resource, [ESP_PATIENT])
    return [
        (i.expression[0] if i.expression else "", i.rule) for i in issues if i.severity == "error"
    ]


def _with(mutation: Mutation) -> dict[str, Any]:
    resource = copy.deepcopy(BASE)
    mutation(resource)
    return resource


ECPR = {"system": "http://hl7.dk/fhir/core/sid/dk-core-d-ecpr", "value": "0102901ABC"}

VALID = [
    pytest.param(lambda r: None, id="example-patient"),
    pytest.param(lambda r: r["identifier"].append(ECPR), id="extra-identifier"),
    pytest.param(
        lambda r: r["name"].append({"use": "usual", "given": ["Rasse"]}), id="extra-usual-name"
    ),
    pytest.param(_set(("identifier", 0, "value"), "2902209995"), id="cpr-29-february"),
    pytest.param(_set(("identifier", 0, "value"), "3112999999"), id="cpr-31-december"),
]

INVALID = [
    pytest.param(
        _set(("identifier", 0, "value"), "050490998"),
        [("Patient.identifier[0].value", "cpr")],
        id="cpr-nine-digits",
    ),
    pytest.param(
        _set(("identifier", 0, "value"), "3102909989"),
        [("Patient.identifier[0].value", "cpr")],
        id="cpr-31-february",
    ),
    pytest.param(
        _set(("identifier", 0, "value"), "0504-90998"),
        [("Patient.identifier[0].value", "cpr")],
        id="cpr-with-dash",
    ),
    pytest.param(
        _set(("identifier",), [ECPR]),
        [("Patient.identifier", "Patient.identifier:cpr")],
        id="no-cpr",
    ),
    pytest.param(
        lambda r: r["identifier"].append({"system": CPR_SYSTEM, "value": "0201609995"}),
        [("Patient.identifier[1]", "Patient.identifier:cpr")],
        id="two-cprs",
    ),
    pytest.param(
        _drop("identifier", 0, "value"),
        [("Patient.identifier[0].value", "Patient.identifier:cpr.value")],
        id="cpr-without-value",
    ),
    pytest.param(
        _drop("identifier"),
        [
            ("Patient.identifier", "Patient.identifier"),
            ("Patient.identifier", "Patient.identifier:cpr"),
        ],
        id="no-identifier",
    ),
    pytest.param(
        _set(("name", 0, "use"), "usual"),
        [("Patient.name", "Patient.name:official")],
        id="no-official-name",
    ),
    pytest.param(
        _drop("name", 0, "family"),
        [("Patient.name[0].family", "Patient.name:official.family")],
        id="official-name-without-family",
    ),
    pytest.param(
        lambda r: r["name"].append(copy.deepcopy(r["name"][0])),
        [("Patient.name[1]", "Patient.name:official")],
        id="two-official-names",
    ),
]


@pytest.mark.parametrize("mutation", VALID)
def test_valid_patient(mutation: Mutation) -> None:
    assert _errors(_with(mutation)) == []


@pytest.mark.parametrize(("mutation", "expected"), INVALID)
def test_invalid_patient(mutation: Mutation, expected: list[tuple[str, str]]) -> None:
    assert _errors(_with(mutation)) == expected


def test_cpr_message_is_readable() -> None:
    [issue] = CATALOG.validate(_with(_set(("identifier", 0, "value"), "123")), [ESP_PATIENT])
    assert issue.code == "invariant"
    assert "valid CPR number" in issue.diagnostics


def test_every_medcom_test_person_is_a_valid_esp_patient() -> None:
    """The MedCom test persons (real test CPRs) pass the CPR invariant."""
    families = json.loads(
        (ROOT / "tests/fixtures/profiles/medcom-test-families.json").read_text("utf-8")
    )
    patients = [
        e["resource"] for e in families["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert len(patients) > 30
    for patient in patients:
        assert _errors(patient) == [], patient["id"]
