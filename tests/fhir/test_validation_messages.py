"""Every pydantic error type the R4B models raise is said in FHIR's terms, with the path."""

from __future__ import annotations

from typing import Any

import pytest

from app.fhir.outcome import RULE_SYSTEM
from app.fhir.validation import validate_resource

PLAN = {"resourceType": "CarePlan", "status": "active", "intent": "plan"}
PLAN = {**PLAN, "subject": {"reference": "Patient/p"}}
GOAL = {
    "resourceType": "Goal",
    "lifecycleStatus": "active",
    "description": {"text": "Gå 2 km"},
    "subject": {"reference": "Patient/p"},
}
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def _timing(**repeat: Any) -> dict[str, Any]:
    detail = {"status": "scheduled", "scheduledTiming": {"repeat": repeat}}
    return {**PLAN, "activity": [{"detail": detail}]}


CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # (pydantic error type, resource, issue code, expression, diagnostics)
    (
        "model_field_validation.missing",
        {"resourceType": "CarePlan", "intent": "plan", "subject": {"reference": "Patient/p"}},
        "required",
        "CarePlan.status",
        "CarePlan.status: the element is required (min 1)",
    ),
    (
        "missing",
        {"resourceType": "Patient", "link": [{"type": "seealso"}]},
        "required",
        "Patient.link[0].other",
        "Patient.link[0].other: the element is required (min 1)",
    ),
    (
        "extra_forbidden",
        {**PLAN, "colour": "blue"},
        "structure",
        "CarePlan.colour",
        "CarePlan.colour: unknown element: not part of the R4 definition of its parent",
    ),
    (
        "value_error (date)",
        {**GOAL, "target": [{"dueDate": "2024-13-01"}]},
        "value",
        "Goal.target[0].dueDate",
        "Goal.target[0].dueDate: '2024-13-01' is not a valid FHIR date",
    ),
    (
        "value_error (dateTime)",
        {**PLAN, "created": "2024-13-45"},
        "value",
        "CarePlan.created",
        "CarePlan.created: '2024-13-45' is not a valid FHIR dateTime",
    ),
    (
        "value_error (instant)",
        {"resourceType": "Patient", "meta": {"lastUpdated": "yesterday"}},
        "value",
        "Patient.meta.lastUpdated",
        "Patient.meta.lastUpdated: 'yesterday' is not a valid FHIR instant",
    ),
    (
        "value_error (time)",
        {**OBSERVATION, "valueTime": "25:00"},
        "value",
        "Observation.valueTime",
        "Observation.valueTime: '25:00' is not a valid FHIR time",
    ),
    (
        "value_error (decimal)",
        {**OBSERVATION, "valueQuantity": {"value": "many"}},
        "value",
        "Observation.valueQuantity.value",
        "Observation.valueQuantity.value: 'many' is not a valid FHIR decimal",
    ),
    (
        "value_error (choice)",
        {"resourceType": "Patient", "deceasedBoolean": True, "deceasedDateTime": "2020"},
        "structure",
        "Patient.deceased[x]",
        "Patient.deceased[x]: a choice element takes one type, got deceasedBoolean, "
        "deceasedDateTime",
    ),
    (
        "int_parsing",
        {"resourceType": "Patient", "multipleBirthInteger": "two"},
        "value",
        "Patient.multipleBirthInteger",
        "Patient.multipleBirthInteger: 'two' is not a valid FHIR integer",
    ),
    (
        "int_type",
        {"resourceType": "Patient", "multipleBirthInteger": [2]},
        "value",
        "Patient.multipleBirthInteger",
        "Patient.multipleBirthInteger: [2] is not a valid FHIR integer",
    ),
    (
        "int_from_float",
        {"resourceType": "Patient", "multipleBirthInteger": 1.5},
        "value",
        "Patient.multipleBirthInteger",
        "Patient.multipleBirthInteger: 1.5 is not a valid FHIR integer (it has a fractional part)",
    ),
    (
        "less_than_equal",
        {"resourceType": "Patient", "multipleBirthInteger": 2**31},
        "value",
        "Patient.multipleBirthInteger",
        "Patient.multipleBirthInteger: 2147483648 is out of range for a FHIR integer "
        "(at most 2147483647)",
    ),
    (
        "greater_than_equal (positiveInt)",
        _timing(count=0),
        "value",
        "CarePlan.activity[0].detail.scheduledTiming.repeat.count",
        "CarePlan.activity[0].detail.scheduledTiming.repeat.count: 0 is out of range for a "
        "FHIR positiveInt (at least 1)",
    ),
    (
        "greater_than_equal (unsignedInt)",
        _timing(offset=-1),
        "value",
        "CarePlan.activity[0].detail.scheduledTiming.repeat.offset",
        "CarePlan.activity[0].detail.scheduledTiming.repeat.offset: -1 is out of range for a "
        "FHIR unsignedInt (at least 0)",
    ),
    (
        "string_type",
        {"resourceType": "Patient", "name": [{"family": 5}]},
        "value",
        "Patient.name[0].family",
        "Patient.name[0].family: a JSON string is expected, got a number 5",
    ),
    (
        "string_pattern_mismatch (string)",
        {"resourceType": "Patient", "name": [{"family": ""}]},
        "value",
        "Patient.name[0].family",
        "Patient.name[0].family: a FHIR string may not be empty",
    ),
    (
        "string_pattern_mismatch (code)",
        {"resourceType": "Patient", "gender": " male"},
        "value",
        "Patient.gender",
        "Patient.gender: ' male' is not a valid FHIR code (no leading, trailing or repeated "
        "whitespace)",
    ),
    (
        "bool_parsing",
        {"resourceType": "Patient", "active": "maybe"},
        "value",
        "Patient.active",
        "Patient.active: a FHIR boolean (true or false) is expected, got a string 'maybe'",
    ),
    (
        "bool_type",
        {"resourceType": "Patient", "active": [True]},
        "value",
        "Patient.active",
        "Patient.active: a FHIR boolean (true or false) is expected, got an array [true]",
    ),
    (
        "bytes_type",
        {"resourceType": "Patient", "photo": [{"data": 5}]},
        "value",
        "Patient.photo[0].data",
        "Patient.photo[0].data: a FHIR base64Binary (a JSON string) is expected, got a number 5",
    ),
    (
        "list_type",
        {"resourceType": "Patient", "name": {"family": "Hansen"}},
        "structure",
        "Patient.name",
        "Patient.name: the element repeats, so a JSON array is expected, got an object",
    ),
    (
        "list_type (null item)",
        {"resourceType": "Patient", "name": [None]},
        "value",
        "Patient.name",
        "Patient.name: null is not allowed in a FHIR JSON array",
    ),
    (
        "model_validation_format",
        {"resourceType": "Patient", "maritalStatus": [{"text": "gift"}]},
        "structure",
        "Patient.maritalStatus",
        "Patient.maritalStatus: a CodeableConcept (a JSON object) is expected, got an array "
        '[{"text": "gift"}]',
    ),
    (
        "model_validation_format (primitive extension)",
        {"resourceType": "Patient", "_active": 5},
        "structure",
        "Patient._active",
        "Patient._active: an object with the primitive's id and extension (R4 "
        "json.html#primitive) is expected, got a number 5",
    ),
    (
        "json_invalid",
        {"resourceType": "Patient", "maritalStatus": "gift"},
        "structure",
        "Patient.maritalStatus",
        "Patient.maritalStatus: a JSON object is expected, got a string 'gift'",
    ),
    (
        "date_type",
        {"resourceType": "Patient", "birthDate": ["1960-01-02"]},
        "value",
        "Patient.birthDate",
        'Patient.birthDate: ["1960-01-02"] is not a valid FHIR date',
    ),
    (
        "date_from_datetime_inexact",
        {"resourceType": "Patient", "birthDate": 19600102},
        "value",
        "Patient.birthDate",
        "Patient.birthDate: 19600102 is not a valid FHIR date",
    ),
    (
        "unknown nested resource type (KeyError in the models)",
        {"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]},
        "not-supported",
        "Patient.contained[0].resourceType",
        "Patient.contained[0].resourceType: 'Nope' is not an R4 resource type",
    ),
]


@pytest.mark.parametrize(
    ("kind", "resource", "code", "expression", "diagnostics"), CASES, ids=[c[0] for c in CASES]
)
def test_pydantic_errors_are_said_in_fhir_terms(
    kind: str, resource: dict[str, Any], code: str, expression: str, diagnostics: str
) -> None:
    issues = validate_resource(resource)
    assert len(issues) == 1, [i.diagnostics for i in issues]
    issue = issues[0].to_fhir()
    assert (issue["code"], issue["expression"], issue["diagnostics"]) == (
        code,
        [expression],
        diagnostics,
    )
    assert issue["details"]["coding"] == [{"system": RULE_SYSTEM, "code": "structure"}]


def test_no_diagnostic_keeps_pydantic_wording() -> None:
    pydantic_words = ("Field required", "Value error", "Input should", "spec regex")
    for _kind, resource, *_ in CASES:
        for issue in validate_resource(resource):
            assert not any(w in issue.diagnostics for w in pydantic_words), issue.diagnostics
