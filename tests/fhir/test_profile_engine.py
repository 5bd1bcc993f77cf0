"""The validator engine on small synthetic profiles: what it supports and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from app.fhir.profiles import ProfileCatalog, ProfileDefinitionError, TerminologyError
from app.fhir.profiles.matching import reference_type
from app.fhir.profiles.terminology import Terminology

BASE = "http://esp-careplans.dk/fhir"
SD_URL = f"{BASE}/StructureDefinition/test-patient"


def _sd(*elements: dict[str, Any], url: str = SD_URL, base: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "id": url.rsplit("/", 1)[1],
        "url": url,
        "name": "Test",
        "status": "draft",
        "version": "0",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": base or "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient", "path": "Patient"}, *elements]},
    }


def _el(id_: str, **kw: Any) -> dict[str, Any]:
    return {"id": id_, "path": ".".join(s.split(":")[0] for s in id_.split(".")), **kw}


def _errors(
    catalog: ProfileCatalog, resource: dict[str, Any], url: str = SD_URL
) -> list[tuple[str, str | None]]:
    return [
        (i.expression[0] if i.expression else "", i.rule)
        for i in catalog.validate(resource, [url])
        if i.severity == "error"
    ]


def test_closed_slicing_rejects_unmatched_items() -> None:
    catalog = ProfileCatalog(
        [
            _sd(
                _el(
                    "Patient.identifier",
                    slicing={
                        "discriminator": [{"type": "value", "path": "system"}],
                        "rules": "closed",
                    },
                ),
                _el("Patient.identifier:a", min=0, max="*"),
                _el("Patient.identifier:a.system", fixedUri="urn:a"),
            )
        ]
    )
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:a"}, {"system": "urn:b"}]}
    assert _errors(catalog, patient) == [("Patient.identifier[1]", "Patient.identifier")]


def test_max_zero_prohibits_an_element() -> None:
    catalog = ProfileCatalog([_sd(_el("Patient.photo", max="0"))])
    assert _errors(catalog, {"resourceType": "Patient", "photo": [{}]}) == [
        ("Patient.photo[0]", "Patient.photo")
    ]


def test_fixed_complex_value_must_match_exactly_but_pattern_only_partly() -> None:
    coding = {"system": "urn:s", "code": "c"}
    fixed = ProfileCatalog(
        [_sd(_el("Patient.maritalStatus", fixedCodeableConcept={"coding": [coding]}))]
    )
    pattern = ProfileCatalog(
        [_sd(_el("Patient.maritalStatus", patternCodeableConcept={"coding": [coding]}))]
    )
    extra = {"resourceType": "Patient", "maritalStatus": {"coding": [coding | {"display": "x"}]}}
    assert _errors(fixed, extra) == [("Patient.maritalStatus", "Patient.maritalStatus")]
    assert _errors(pattern, extra) == []
    other = {
        "resourceType": "Patient",
        "maritalStatus": {"coding": [{"system": "urn:s", "code": "d"}]},
    }
    assert _errors(pattern, other) == [("Patient.maritalStatus", "Patient.maritalStatus")]


def test_primitive_with_only_an_extension_counts_as_present() -> None:
    catalog = ProfileCatalog([_sd(_el("Patient.birthDate", min=1))])
    absent = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }
        ]
    }
    assert _errors(catalog, {"resourceType": "Patient", "_birthDate": absent}) == []
    assert _errors(catalog, {"resourceType": "Patient"}) == [
        ("Patient.birthDate", "Patient.birthDate")
    ]


def test_derived_profile_tightens_a_slice_of_its_base() -> None:
    derived_url = f"{BASE}/StructureDefinition/derived"
    catalog = ProfileCatalog(
        [
            _sd(
                _el(
                    "Patient.identifier",
                    slicing={"discriminator": [{"type": "value", "path": "system"}]},
                ),
                _el("Patient.identifier:a", max="1"),
                _el("Patient.identifier:a.system", fixedUri="urn:a"),
            ),
            _sd(_el("Patient.identifier:a", min=1), url=derived_url, base=SD_URL),
        ]
    )
    assert _errors(catalog, {"resourceType": "Patient"}, SD_URL) == []
    assert _errors(catalog, {"resourceType": "Patient"}, derived_url) == [
        ("Patient.identifier", "Patient.identifier:a")
    ]
    two = {"resourceType": "Patient", "identifier": [{"system": "urn:a"}, {"system": "urn:a"}]}
    assert _errors(catalog, two, derived_url) == [("Patient.identifier[1]", "Patient.identifier:a")]


def test_warning_constraint_is_not_an_error() -> None:
    catalog = ProfileCatalog(
        [
            _sd(
                _el(
                    "Patient",
                    constraint=[
                        {
                            "key": "t-1",
                            "severity": "warning",
                            "human": "has a name",
                            "expression": "name.exists()",
                        }
                    ],
                )
            )
        ]
    )
    [issue] = catalog.validate({"resourceType": "Patient"}, [SD_URL])
    assert (issue.severity, issue.code, issue.rule, issue.expression) == (
        "warning",
        "invariant",
        "t-1",
        ("Patient",),
    )


@pytest.mark.parametrize(
    "element",
    [
        pytest.param(
            _el(
                "Patient.identifier", slicing={"discriminator": [{"type": "type", "path": "$this"}]}
            ),
            id="type-discriminator",
        ),
        pytest.param(
            _el("Patient.identifier", slicing={"discriminator": [{"type": "exists", "path": "x"}]}),
            id="exists-discriminator",
        ),
        pytest.param(
            _el(
                "Patient.gender",
                binding={"strength": "required", "valueSet": f"{BASE}/ValueSet/nope"},
            ),
            id="unknown-value-set-of-ours",
        ),
        pytest.param(
            _el(
                "Patient",
                constraint=[
                    {"key": "k", "severity": "error", "human": "h", "expression": "name.where("}
                ],
            ),
            id="bad-fhirpath",
        ),
        pytest.param(
            _el(
                "Patient.link.other",
                type=[{"code": "Reference", "targetProfile": [f"{BASE}/StructureDefinition/nope"]}],
            ),
            id="unknown-target-profile-of-ours",
        ),
        pytest.param(_el("Patient.identifier:a", min=1), id="slice-without-slicing"),
    ],
)
def test_unsupported_or_inconsistent_definitions_fail_at_load(element: dict[str, Any]) -> None:
    with pytest.raises(ProfileDefinitionError):
        ProfileCatalog([_sd(element)])


def test_value_set_filters() -> None:
    sks, icpc = "urn:oid:1.2.208.176.2.4.12", "urn:oid:1.2.208.176.2.31"
    ours = f"{BASE}/CodeSystem/levels"
    terminology = Terminology(
        [
            {
                "url": ours,
                "content": "complete",
                "concept": [{"code": "a", "concept": [{"code": "a1"}]}, {"code": "b"}],
            }
        ],
        [
            {
                "url": "vs:copd",
                "compose": {
                    "include": [
                        {
                            "system": sks,
                            "filter": [{"property": "concept", "op": "is-a", "value": "DJ44"}],
                        },
                        {"system": icpc, "concept": [{"code": "R95"}]},
                    ]
                },
            },
            {
                "url": "vs:under-a",
                "compose": {
                    "include": [
                        {
                            "system": ours,
                            "filter": [{"property": "concept", "op": "is-a", "value": "a"}],
                        }
                    ]
                },
            },
            {
                "url": "vs:all-but-b",
                "compose": {
                    "include": [{"system": ours}],
                    "exclude": [{"system": ours, "concept": [{"code": "b"}]}],
                },
            },
        ],
    )
    assert terminology.contains("vs:copd", sks, "DJ449")
    assert terminology.contains("vs:copd", sks, "DJ44")
    assert not terminology.contains("vs:copd", sks, "DJ45")
    assert not terminology.contains("vs:copd", icpc, "R96")
    assert not terminology.contains("vs:copd", "http://snomed.info/sct", "DJ449")
    assert terminology.contains("vs:under-a", ours, "a1")
    assert not terminology.contains("vs:under-a", ours, "b")
    assert not terminology.contains("vs:under-a", ours, "a2")  # not in our complete code system
    assert terminology.contains("vs:all-but-b", ours, "a1")
    assert not terminology.contains("vs:all-but-b", ours, "b")


def test_unsupported_value_set_filter_fails() -> None:
    with pytest.raises(TerminologyError):
        Terminology(
            [],
            [
                {
                    "url": "vs:x",
                    "compose": {
                        "include": [
                            {
                                "system": "urn:s",
                                "filter": [{"property": "parent", "op": "exists", "value": "true"}],
                            }
                        ]
                    },
                }
            ],
        )


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/123", "Patient"),
        ("https://fhir.example.dk/fhir/Patient/123/_history/2", "Patient"),
        ("Patient?identifier=urn:oid:1.2.208.176.1.2|0504909989", "Patient"),
        ("urn:uuid:6c1b9c4e-4a55-4b8e-9f0e-8a3f0e2d7b11", None),
        ("#parter", None),
    ],
)
def test_reference_type(reference: str, expected: str | None) -> None:
    assert reference_type(reference) == expected


def test_profiles_for_tolerates_odd_input() -> None:
    catalog = ProfileCatalog([_sd()])
    assert (
        catalog.profiles_for(
            {"resourceType": "CarePlan", "meta": "x", "category": [{"coding": "x"}]}
        )
        == []
    )


def test_unknown_base_of_ours_fails_at_load() -> None:
    with pytest.raises(ProfileDefinitionError):
        ProfileCatalog([_sd(base=f"{BASE}/StructureDefinition/missing")])
