"""Conditional create/update/delete (0/1/many) and JSON Patch (R4 http.html)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.support.resources import CPR_SYSTEM, careplan, patient, unique_cpr

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _criteria(cpr: str) -> str:
    return f"identifier={CPR_SYSTEM}|{cpr}"


def _two_patients_named(client: TestClient) -> str:
    """Two Patients (one per CPR) sharing a family name; criteria that match both."""
    family = f"Test{uuid.uuid4().hex[:10]}"
    for _ in range(2):
        created = client.post(
            "/fhir/Patient", json=patient(unique_cpr(), family=family), headers=FHIR_JSON
        )
        assert created.status_code == 201
    return f"family={family}"


def test_a_second_patient_with_a_stored_cpr_is_refused_pointing_to_conditional_create(
    client: TestClient,
) -> None:
    cpr = unique_cpr()
    assert client.post("/fhir/Patient", json=patient(cpr), headers=FHIR_JSON).status_code == 201
    second = client.post("/fhir/Patient", json=patient(cpr), headers=FHIR_JSON)
    assert second.status_code == 409
    issue = second.json()["issue"][0]
    assert issue["expression"] == ["Patient.identifier"]
    assert "If-None-Exist" in issue["diagnostics"]
    found = client.get("/fhir/Patient", params={"identifier": f"{CPR_SYSTEM}|{cpr}"}).json()
    assert found["total"] == 1


def test_conditional_create_creates_once_then_returns_the_existing(client: TestClient) -> None:
    cpr = unique_cpr()
    headers = {**FHIR_JSON, "If-None-Exist": _criteria(cpr)}
    first = client.post("/fhir/Patient", json=patient(cpr), headers=headers)
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=patient(cpr), headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["meta"]["versionId"] == "1"


def test_conditional_create_with_several_matches_is_412(client: TestClient) -> None:
    criteria = _two_patients_named(client)
    response = client.post(
        "/fhir/Patient",
        json=patient(unique_cpr()),
        headers={**FHIR_JSON, "If-None-Exist": criteria},
    )
    assert response.status_code == 412


def test_conditional_update_no_match_creates_one_match_updates(client: TestClient) -> None:
    cpr = unique_cpr()
    created = client.put(f"/fhir/Patient?{_criteria(cpr)}", json=patient(cpr), headers=FHIR_JSON)
    assert created.status_code == 201
    updated = client.put(
        f"/fhir/Patient?{_criteria(cpr)}",
        json={**patient(cpr), "gender": "other"},
        headers=FHIR_JSON,
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"


def test_conditional_update_with_several_matches_is_412(client: TestClient) -> None:
    criteria = _two_patients_named(client)
    response = client.put(
        f"/fhir/Patient?{criteria}", json=patient(unique_cpr()), headers=FHIR_JSON
    )
    assert response.status_code == 412


def test_conditional_delete_zero_one_many(client: TestClient) -> None:
    cpr = unique_cpr()
    assert client.delete(f"/fhir/Patient?{_criteria(cpr)}").status_code == 204
    pid = client.post("/fhir/Patient", json=patient(cpr), headers=FHIR_JSON).json()["id"]
    assert client.delete(f"/fhir/Patient?{_criteria(cpr)}").status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    assert client.delete(f"/fhir/Patient?{_two_patients_named(client)}").status_code == 412


def test_json_patch_applies_and_validates(client: TestClient) -> None:
    created = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    ops = [{"op": "replace", "path": "/status", "value": "completed"}]
    response = client.patch(
        f"/fhir/CarePlan/{created['id']}",
        json=ops,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["meta"]["versionId"] == "2"
    history = client.get(f"/fhir/CarePlan/{created['id']}/_history").json()
    assert history["entry"][0]["request"]["method"] == "PATCH"


def test_json_patch_producing_an_invalid_resource_is_rejected(client: TestClient) -> None:
    created = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    ops = [{"op": "replace", "path": "/status", "value": "bogus"}]
    response = client.patch(
        f"/fhir/CarePlan/{created['id']}",
        json=ops,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["CarePlan.status"]
    assert client.get(f"/fhir/CarePlan/{created['id']}").json()["meta"]["versionId"] == "1"


def test_json_patch_stale_if_match_is_412(client: TestClient) -> None:
    created = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    client.put(f"/fhir/CarePlan/{created['id']}", json=created, headers=FHIR_JSON)
    response = client.patch(
        f"/fhir/CarePlan/{created['id']}",
        json=[{"op": "replace", "path": "/status", "value": "completed"}],
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
    )
    assert response.status_code == 412


def test_json_patch_cannot_change_the_id(client: TestClient) -> None:
    created = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    response = client.patch(
        f"/fhir/CarePlan/{created['id']}",
        json=[{"op": "replace", "path": "/id", "value": "other"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 400


def test_malformed_json_patch_is_400(client: TestClient) -> None:
    created = client.post("/fhir/CarePlan", json=careplan(), headers=FHIR_JSON).json()
    response = client.patch(
        f"/fhir/CarePlan/{created['id']}",
        json=[{"op": "explode", "path": "/status"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
