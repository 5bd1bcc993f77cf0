"""Stateless app nodes over one PostgreSQL: two server processes on different ports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.databases import database_for
from tests.support.resources import CPR_SYSTEM, careplan, patient, unique_cpr
from tests.support.servers import RunningServer, running_server

pytestmark = pytest.mark.slow
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, RunningServer]]:
    for url in database_for("postgres", tmp_path_factory.mktemp("nodes")):
        with running_server(url, workers=1) as first, running_server(url, workers=1) as second:
            yield first, second


def test_writes_through_one_node_read_consistently_through_the_other(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    created = httpx.post(
        f"{a.base}/CarePlan", json=careplan(), headers={**a.system_headers(), **FHIR_JSON}
    )
    assert created.status_code == 201
    plan = created.json()
    read = httpx.get(f"{b.base}/CarePlan/{plan['id']}", headers=b.system_headers())
    assert read.status_code == 200 and read.json() == plan
    updated = httpx.put(
        f"{b.base}/CarePlan/{plan['id']}",
        json={**plan, "status": "completed"},
        headers={**b.system_headers(), **FHIR_JSON, "If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200
    stale = httpx.put(
        f"{a.base}/CarePlan/{plan['id']}",
        json={**plan, "status": "revoked"},
        headers={**a.system_headers(), **FHIR_JSON, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412, "a lost update across nodes"
    assert (
        httpx.get(f"{a.base}/CarePlan/{plan['id']}", headers=a.system_headers()).json()["status"]
        == "completed"
    )


def test_conditional_creates_across_nodes_create_exactly_one(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    cpr = unique_cpr()
    criteria = f"identifier={CPR_SYSTEM}|{cpr}"

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{node.base}/Patient",
                        json=patient(cpr),
                        headers={**node.system_headers(), **FHIR_JSON, "If-None-Exist": criteria},
                    )
                    for node in (a, b) * 10
                )
            )

    responses = asyncio.run(run())
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    for node in (a, b):
        found = httpx.get(
            f"{node.base}/Patient",
            params={"identifier": f"{CPR_SYSTEM}|{cpr}"},
            headers=node.system_headers(),
        )
        assert found.json()["total"] == 1


def test_one_patient_per_cpr_holds_under_20_parallel_creates_over_two_nodes(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    """Plain creates (no If-None-Exist), from two organisations: the unique key decides."""
    a, b = nodes
    cpr = unique_cpr()
    writers = [
        (node, node.system_headers(sor=sor))
        for node, sor in zip((a, b) * 10, ("100000000000001", "100000000000615") * 10, strict=True)
    ]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{node.base}/Patient",
                        json=patient(cpr),
                        headers={**headers, **FHIR_JSON},
                    )
                    for node, headers in writers
                )
            )

    responses = asyncio.run(run())
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["issue"][0]["expression"] == ["Patient.identifier"]
    created = next(r for r in responses if r.status_code == 201)
    winner = a if created.url.host and str(created.url).startswith(a.base) else b
    author = created.request.headers["Authorization"]
    found = httpx.get(
        f"{winner.base}/Patient",
        params={"identifier": f"{CPR_SYSTEM}|{cpr}"},
        headers={"Authorization": author},
    )
    assert found.json()["total"] == 1
