"""A stock FHIR client library (fhirpy) drives a running server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhirpy import AsyncFHIRClient, SyncFHIRClient

from tests.support.resources import CPR_SYSTEM, careplan, patient, unique_cpr
from tests.support.servers import RunningServer, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[RunningServer]:
    with running_server(database_url, workers=1) as running:
        yield running


@pytest.fixture
def fhir(server: RunningServer) -> SyncFHIRClient:
    return SyncFHIRClient(
        server.base,
        authorization=server.system_headers()["Authorization"],
        extra_headers={"Accept": "application/fhir+json"},
    )


def test_create_read_update_history(fhir: SyncFHIRClient) -> None:
    cpr = unique_cpr()
    person = fhir.resource(
        "Patient", **{k: v for k, v in patient(cpr).items() if k != "resourceType"}
    )
    person.save()
    assert person.id and person["meta"]["versionId"] == "1"
    fetched = fhir.reference("Patient", person.id).to_resource()
    assert fetched["identifier"][0]["value"] == cpr
    fetched["gender"] = "other"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    found = fhir.resources("Patient").search(identifier=f"{CPR_SYSTEM}|{cpr}").fetch()
    assert [p.id for p in found] == [person.id]
    history = fhir.execute(f"Patient/{person.id}/_history", method="get")
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_transaction(fhir: SyncFHIRClient) -> None:
    cpr = unique_cpr()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
                "resource": patient(cpr),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": careplan(patient_ref="urn:uuid:11111111-2222-4333-8444-555555555555"),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    response = fhir.execute("", method="post", data=bundle)
    assert response["type"] == "transaction-response"
    patient_id = response["entry"][0]["resource"]["id"]
    plans = fhir.resources("CarePlan").search(subject=f"Patient/{patient_id}").fetch()
    assert len(plans) == 1


def test_count(fhir: SyncFHIRClient) -> None:
    """fhirpy's count() sends `_count=0&_totalMethod=count`: the unknown parameter is ignored."""
    family = f"Tæller{unique_cpr()}"
    for _ in range(2):
        fhir.resource("Patient", name=[{"family": family}]).save()
    assert fhir.resources("Patient").search(family=family).count() == 2


async def test_the_async_client_creates_pages_and_deletes(server: RunningServer) -> None:
    """fhirpy's AsyncFHIRClient: create, read, update, paging through `next`, delete."""
    fhir = AsyncFHIRClient(
        server.base,
        authorization=server.system_headers()["Authorization"],
        extra_headers={"Accept": "application/fhir+json"},
    )
    person = fhir.resource(
        "Patient", **{k: v for k, v in patient(unique_cpr()).items() if k != "resourceType"}
    )
    await person.save()
    fetched = await fhir.reference("Patient", person.id).to_resource()
    fetched["gender"] = "other"
    await fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    plans = []
    for _ in range(3):
        plan = fhir.resource(
            "CarePlan",
            **{k: v for k, v in careplan(f"Patient/{person.id}").items() if k != "resourceType"},
        )
        await plan.save()
        plans.append(plan.id)
    search = fhir.resources("CarePlan").search(subject=f"Patient/{person.id}").limit(2)
    found = await search.fetch_all()  # follows the `next` links
    assert sorted(p.id for p in found) == sorted(plans)
    assert await search.count() == 3
    doomed = await fhir.reference("CarePlan", plans[0]).to_resource()
    await doomed.delete()
    assert await fhir.resources("CarePlan").search(subject=f"Patient/{person.id}").count() == 2
