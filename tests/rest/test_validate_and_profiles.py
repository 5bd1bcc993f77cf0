"""$validate and profile enforcement on writes (docs/profiles.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_profiles" / "examples"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _example(name: str, resource_type: str) -> dict[str, Any]:
    bundle = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )


def _plan_without_links() -> dict[str, Any]:
    """The rehabilitation plan example, self-contained enough for $validate."""
    return copy.deepcopy(_example("Bundle-rehabilitation-plan.json", "CarePlan"))


def test_validate_answers_200_all_ok_for_a_valid_condition(client: TestClient) -> None:
    condition = _example("Bundle-pathway-plan-copd.json", "Condition")
    response = client.post("/fhir/Condition/$validate", json=condition, headers=FHIR_JSON)
    assert response.status_code == 200
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(i["severity"] not in ("error", "fatal") for i in outcome["issue"])


def test_validate_answers_200_with_the_errors_of_an_invalid_plan(client: TestClient) -> None:
    plan = _plan_without_links()
    del plan["period"]
    response = client.post("/fhir/CarePlan/$validate", json=plan, headers=FHIR_JSON)
    assert response.status_code == 200
    errors = [i for i in response.json()["issue"] if i["severity"] == "error"]
    assert any("CarePlan.period" in e.get("expression", [""])[0] for e in errors), errors


def test_validate_reports_base_spec_errors_too(client: TestClient) -> None:
    response = client.post(
        "/fhir/CarePlan/$validate",
        json={
            "resourceType": "CarePlan",
            "status": "bogus",
            "intent": "plan",
            "subject": {"reference": "Patient/x"},
        },
        headers=FHIR_JSON,
    )
    assert response.status_code == 200
    assert response.json()["issue"][0]["expression"] == ["CarePlan.status"]


def test_validate_accepts_parameters_and_an_explicit_profile(client: TestClient) -> None:
    condition = _example("Bundle-pathway-plan-copd.json", "Condition")
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": condition},
            {
                "name": "profile",
                "valueUri": "http://esp-careplans.dk/fhir/StructureDefinition/esp-unknown",
            },
        ],
    }
    response = client.post("/fhir/Condition/$validate", json=parameters, headers=FHIR_JSON)
    assert response.status_code == 200
    assert any("Unknown profile" in i["diagnostics"] for i in response.json()["issue"])


def test_a_plan_with_a_plan_type_category_is_validated_without_meta_profile(
    client: TestClient,
) -> None:
    plan = _plan_without_links()
    plan.pop("meta", None)
    del plan["period"]
    response = client.post("/fhir/CarePlan", json=plan, headers=FHIR_JSON)
    assert response.status_code == 422
    assert response.json()["issue"][0]["severity"] == "error"
    assert client.get("/fhir/CarePlan/_history").json().get("entry") is None


def test_every_example_bundle_loads_as_a_transaction(client: TestClient) -> None:
    for path in sorted(EXAMPLES.glob("Bundle-*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
        assert response.status_code == 200, (path.name, response.text[:2000])
        assert all(
            e["response"]["status"].startswith(("200", "201")) for e in response.json()["entry"]
        )


def test_conformance_resources_are_served_and_searchable(client: TestClient) -> None:
    found = client.get(
        "/fhir/StructureDefinition",
        params={"url": "http://esp-careplans.dk/fhir/StructureDefinition/esp-pathway-plan"},
    ).json()
    assert found["total"] == 1
    sd_id = found["entry"][0]["resource"]["id"]
    assert client.get(f"/fhir/StructureDefinition/{sd_id}").json()["type"] == "CarePlan"
    assert client.get("/fhir/CodeSystem", params={"name": "PlanType"}).json()["total"] >= 0
    assert (
        client.post(
            "/fhir/CodeSystem",
            json={"resourceType": "CodeSystem", "status": "draft", "content": "complete"},
            headers=FHIR_JSON,
        ).status_code
        == 405
    )
    statement = client.get("/fhir/metadata").json()
    careplan = next(r for r in statement["rest"][0]["resource"] if r["type"] == "CarePlan")
    assert (
        "http://esp-careplans.dk/fhir/StructureDefinition/esp-pathway-plan"
        in careplan["supportedProfile"]
    )
