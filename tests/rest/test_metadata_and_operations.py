"""CapabilityStatement, health endpoints, logging hygiene, the exported OpenAPI document."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.fhir.resource_types import REGISTRY, Interaction
from app.fhir.search.registry import search_params
from app.main import create_app
from app.settings import Settings
from tests.support.resources import patient

ROOT = Path(__file__).resolve().parents[2]


def test_metadata_is_a_capability_statement_generated_from_the_registry(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(REGISTRY)
    for name, spec in REGISTRY.items():
        advertised = {i["code"] for i in resources[name]["interaction"]}
        assert advertised == {i.value for i in Interaction if spec.supports(i)}
    careplan = resources["CarePlan"]
    assert careplan["versioning"] == "versioned-update"
    assert careplan["conditionalCreate"] is True and careplan["conditionalUpdate"] is True
    assert {p["name"] for p in careplan["searchParam"]} == set(search_params("CarePlan"))
    assert "CarePlan:subject" in careplan["searchInclude"]
    assert resources["AuditEvent"]["interaction"] and not any(
        i["code"] in ("create", "update", "delete") for i in resources["AuditEvent"]["interaction"]
    )


def test_metadata_needs_no_database_round_trip_to_be_valid_r4(client: TestClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    CapabilityStatement.model_validate(client.get("/fhir/metadata").json())


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", cursor_secret="x")
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["resourceType"] == "OperationOutcome"


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    assert (
        client.get("/fhir/metadata", headers={"X-Request-Id": "abc-1"}).headers["X-Request-Id"]
        == "abc-1"
    )
    assert len(client.get("/fhir/metadata").headers["X-Request-Id"]) == 32


def test_logs_carry_no_cpr_number(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    from app.logging_setup import JsonFormatter

    caplog.set_level(logging.INFO)
    client.post(
        "/fhir/Patient",
        json=patient("0201609995"),
        headers={"Content-Type": "application/fhir+json"},
    )
    client.get("/fhir/Patient", params={"identifier": "urn:oid:1.2.208.176.1.2|0201609995"})
    client.get("/fhir/Patient/0201609995")
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"esp.access"' in line for line in lines)
    assert not any("0201609995" in line for line in lines)


def test_exported_openapi_is_current() -> None:
    exported = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    live = json.loads(json.dumps(create_app(Settings(cursor_secret="x")).openapi(), sort_keys=True))
    assert exported == live, "openapi/openapi.json is stale: run `make openapi`"


def test_openapi_documents_real_fhir_schemas() -> None:
    document = create_app(Settings(cursor_secret="x")).openapi()
    create = document["paths"]["/fhir/CarePlan"]["post"]
    assert create["requestBody"]["content"]["application/fhir+json"]["schema"] == {
        "$ref": "#/components/schemas/CarePlan"
    }
    assert "CarePlan" in document["components"]["schemas"]
    assert "status" in document["components"]["schemas"]["CarePlan"]["properties"]
