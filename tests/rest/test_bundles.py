"""Batch and transaction Bundles (R4 http.html#transaction)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.resources import CPR_SYSTEM, careplan, organization, patient, unique_cpr

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _discharge_bundle(cpr: str) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c3a5d2e-0000-4000-8000-000000000001",
                "resource": careplan(
                    patient_ref="urn:uuid:0c3a5d2e-0000-4000-8000-000000000002",
                    author={"reference": "urn:uuid:0c3a5d2e-0000-4000-8000-000000000003"},
                ),
                "request": {"method": "POST", "url": "CarePlan"},
            },
            {
                "fullUrl": "urn:uuid:0c3a5d2e-0000-4000-8000-000000000002",
                "resource": patient(cpr),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={CPR_SYSTEM}|{cpr}",
                },
            },
            {
                "fullUrl": "urn:uuid:0c3a5d2e-0000-4000-8000-000000000003",
                "resource": organization(),
                "request": {
                    "method": "POST",
                    "url": "Organization",
                    "ifNoneExist": "identifier=urn:oid:1.2.208.176.1.1|123456789012345",
                },
            },
        ],
    }


def test_transaction_resolves_urn_uuid_references_and_reports_each_entry(
    client: TestClient,
) -> None:
    cpr = unique_cpr()
    response = client.post("/fhir", json=_discharge_bundle(cpr), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    plan = body["entry"][0]["resource"]
    patient_location = body["entry"][1]["response"]["location"]
    assert (
        plan["subject"]["reference"]
        == "Patient/" + patient_location.split("/Patient/")[1].split("/")[0]
    )
    assert plan["author"]["reference"].startswith("Organization/")
    assert all(e["response"]["etag"] == 'W/"1"' for e in body["entry"])
    stored = client.get(f"/fhir/CarePlan/{plan['id']}").json()
    assert stored["subject"] == plan["subject"]


def test_resending_the_same_transaction_creates_no_duplicate_patient(client: TestClient) -> None:
    cpr = unique_cpr()
    first = client.post("/fhir", json=_discharge_bundle(cpr), headers=FHIR_JSON).json()
    second = client.post("/fhir", json=_discharge_bundle(cpr), headers=FHIR_JSON).json()
    assert second["entry"][1]["response"]["status"] == "200 OK"
    assert second["entry"][1]["resource"]["id"] == first["entry"][1]["resource"]["id"]
    assert second["entry"][0]["resource"]["subject"] == first["entry"][0]["resource"]["subject"]


def test_transaction_with_unresolvable_urn_uuid_fails_whole(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": careplan(patient_ref="urn:uuid:nowhere"),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 400
    assert "Bundle.entry[0]" in response.json()["issue"][0]["expression"][0]


def test_transaction_processes_deletes_before_creates_and_gets_last(client: TestClient) -> None:
    existing = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": f"CarePlan/{existing['id']}"}},
            {"resource": careplan(), "request": {"method": "POST", "url": "CarePlan"}},
            {"request": {"method": "DELETE", "url": f"CarePlan/{existing['id']}"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    # The GET runs after the DELETE, so it meets a deleted resource and fails the transaction.
    assert response.status_code == 410
    assert "Bundle.entry[0]" in response.json()["issue"][0]["expression"][0]
    assert client.get(f"/fhir/CarePlan/{existing['id']}").status_code == 200


def test_transaction_with_two_entries_for_one_resource_fails(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**patient(), "id": "dup"},
                "request": {"method": "PUT", "url": "Patient/dup"},
            },
            {
                "resource": {**patient(), "id": "dup"},
                "request": {"method": "PUT", "url": "Patient/dup"},
            },
        ],
    }
    assert client.post("/fhir", json=bundle, headers=FHIR_JSON).status_code == 400
    assert client.get("/fhir/Patient/dup").status_code == 404


def test_transaction_conditional_update_inside(client: TestClient) -> None:
    cpr = unique_cpr()
    client.post("/fhir/Patient", json=patient(cpr), headers=FHIR_JSON)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
                "resource": {**patient(cpr), "gender": "other"},
                "request": {"method": "PUT", "url": f"Patient?identifier={CPR_SYSTEM}|{cpr}"},
            },
            {
                "resource": careplan(patient_ref="urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    body = client.post("/fhir", json=bundle, headers=FHIR_JSON).json()
    assert body["entry"][0]["response"]["status"] == "200 OK"
    assert body["entry"][0]["resource"]["meta"]["versionId"] == "2"
    assert (
        body["entry"][1]["resource"]["subject"]["reference"]
        == f"Patient/{body['entry'][0]['resource']['id']}"
    )


def test_batch_processes_entries_independently(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": careplan(status="bogus"),
                "request": {"method": "POST", "url": "CarePlan"},
            },
            {"request": {"method": "GET", "url": "Patient/unknown"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert response.json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"].startswith("400")
    assert entries[1]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.status"
    ]
    assert entries[2]["response"]["status"].startswith("404")


def test_bundle_of_other_type_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR_JSON
    )
    assert response.status_code == 400


def test_patch_entry_in_transaction_uses_binary(client: TestClient) -> None:
    import base64
    import json

    plan = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    patch = base64.b64encode(
        json.dumps([{"op": "replace", "path": "/status", "value": "completed"}]).encode()
    ).decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": patch,
                },
                "request": {"method": "PATCH", "url": f"CarePlan/{plan['id']}"},
            }
        ],
    }
    body = client.post("/fhir", json=bundle, headers=FHIR_JSON).json()
    assert body["entry"][0]["response"]["status"] == "200 OK"
    assert client.get(f"/fhir/CarePlan/{plan['id']}").json()["status"] == "completed"
