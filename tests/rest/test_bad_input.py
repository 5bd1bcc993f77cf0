"""Bad input gets a clear OperationOutcome with the element path, and stores nothing."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.support.resources import careplan, patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _count(client: TestClient, resource_type: str) -> int:
    history = client.get(f"/fhir/{resource_type}/_history", params={"_count": 1000}).json()
    return len(history.get("entry", []))


def _issue(response) -> dict:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_required_binding_violation_is_rejected_with_path(client: TestClient) -> None:
    response = client.post("/fhir/CarePlan", json=careplan(status="bogus"), headers=FHIR_JSON)
    assert response.status_code == 400
    issue = _issue(response)
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == ["CarePlan.status"]
    assert _count(client, "CarePlan") == 0


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "bogus",
                        }
                    ]
                },
            },
            "Condition.clinicalStatus.coding[0].code",
        ),
        (
            {
                "resourceType": "Goal",
                "lifecycleStatus": "bogus",
                "description": {"text": "x"},
                "subject": {"reference": "Patient/1"},
            },
            "Goal.lifecycleStatus",
        ),
        ({"resourceType": "Patient", "gender": "bogus"}, "Patient.gender"),
        (
            {
                "resourceType": "Consent",
                "status": "bogus",
                "scope": {"text": "x"},
                "category": [{"text": "x"}],
            },
            "Consent.status",
        ),
        ({**careplan(), "intent": "bogus"}, "CarePlan.intent"),
    ],
)
def test_required_bindings_of_every_type(
    client: TestClient, resource: dict, expression: str
) -> None:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 400
    assert expression in [e for i in response.json()["issue"] for e in i.get("expression", [])]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert _issue(response)["code"] == "structure"


def test_wrong_resource_type_for_the_url_is_400(client: TestClient) -> None:
    response = client.post("/fhir/CarePlan", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["resourceType"]


def test_put_body_id_differing_from_url_id_is_400(client: TestClient) -> None:
    response = client.put("/fhir/Patient/a", json={**patient(), "id": "b"}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["Patient.id"]
    assert client.get("/fhir/Patient/a").status_code == 404


def test_put_without_body_id_is_400(client: TestClient) -> None:
    response = client.put("/fhir/Patient/a", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 400


def test_unknown_element_is_400_naming_it(client: TestClient) -> None:
    response = client.post(
        "/fhir/CarePlan", json={**careplan(), "colour": "blue"}, headers=FHIR_JSON
    )
    assert response.status_code == 400
    issue = _issue(response)
    assert issue["expression"] == ["CarePlan.colour"]


def test_nested_unknown_element_names_its_path(client: TestClient) -> None:
    plan = careplan(activity=[{"detail": {"status": "scheduled", "colour": 1}}])
    response = client.post("/fhir/CarePlan", json=plan, headers=FHIR_JSON)
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["CarePlan.activity[0].detail.colour"]


def test_invalid_reference_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir/CarePlan", json=careplan(patient_ref="not a reference"), headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["CarePlan.subject.reference"]


def test_reference_to_a_disallowed_target_type_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir/CarePlan", json=careplan(patient_ref="Organization/x"), headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["CarePlan.subject.reference"]


def test_datatype_error_is_400_with_path(client: TestClient) -> None:
    response = client.post(
        "/fhir/CarePlan", json={**careplan(), "created": "2024-13-45"}, headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["CarePlan.created"]


def test_body_over_the_size_limit_is_413(client: TestClient) -> None:
    huge = json.dumps(
        {
            **patient(),
            "text": {"status": "generated", "div": "<div>" + "x" * (11 * 1024 * 1024) + "</div>"},
        }
    )
    response = client.post("/fhir/Patient", content=huge, headers=FHIR_JSON)
    assert response.status_code == 413
    assert _issue(response)["code"] == "too-long"


def test_excessive_nesting_is_400(client: TestClient) -> None:
    nested: dict = {}
    node = nested
    for _ in range(200):
        node["extension"] = [{}]
        node = node["extension"][0]
    response = client.post("/fhir/Patient", json={**patient(), **nested}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert _issue(response)["code"] == "too-long"


def test_xml_body_is_415_and_xml_accept_is_406(client: TestClient) -> None:
    xml = client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert xml.status_code == 415
    assert _issue(xml)["code"] == "not-supported"
    accept = client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
    assert accept.status_code == 406
    assert client.get("/fhir/metadata", params={"_format": "xml"}).status_code == 406


def test_json_format_variants_are_accepted(client: TestClient) -> None:
    assert client.get("/fhir/metadata", params={"_format": "json"}).status_code == 200
    plain = client.post(
        "/fhir/Patient", json=patient(), headers={"Content-Type": "application/json"}
    )
    assert plain.status_code == 201
    assert (
        client.get("/fhir/metadata", headers={"Accept": "application/json"})
        .headers["Content-Type"]
        .startswith("application/json")
    )


def test_pretty_output(client: TestClient) -> None:
    assert b"\n  " in client.get("/fhir/metadata", params={"_pretty": "true"}).content
    assert b"\n" not in client.get("/fhir/metadata").content


def test_failed_transaction_rolls_back_every_entry(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": careplan(status="bogus"),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 400
    assert _issue(response)["expression"] == ["Bundle.entry[1].resource.status"]
    assert _count(client, "Patient") == 0
    assert _count(client, "CarePlan") == 0


def test_internal_error_is_500_operation_outcome_with_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.storage.repository import Repository

    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Repository, "read", explode)
    local = TestClient(client.app, raise_server_exceptions=False, headers=client.headers)
    response = local.get("/fhir/Patient/x", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 500
    issue = _issue(response)
    assert issue["code"] == "exception"
    assert "req-123" in issue["diagnostics"]
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
