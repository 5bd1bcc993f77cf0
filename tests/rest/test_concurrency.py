"""Concurrency against real server processes: 2 workers over one PostgreSQL."""

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
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    for url in database_for("postgres", tmp_path_factory.mktemp("pg")):
        with running_server(url, workers=2) as server:
            yield server


@pytest.fixture(scope="module")
def server(running: RunningServer) -> str:
    return running.base


@pytest.fixture(scope="module", autouse=True)
def _auth(running: RunningServer) -> Iterator[None]:
    """Every request of this module carries a hospital system token."""
    global HEADERS
    HEADERS = running.system_headers()
    yield


HEADERS: dict[str, str] = {}


def _get(url: str, **kw):
    return httpx.get(url, headers=HEADERS, **kw)


def _post(url: str, **kw):
    return httpx.post(url, headers={**HEADERS, **FHIR_JSON}, **kw)


async def _gather(count: int, make_request) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, headers=HEADERS) as client:
        return await asyncio.gather(*(make_request(client) for _ in range(count)))


def test_parallel_conditional_creates_create_exactly_one(server: str) -> None:
    cpr = unique_cpr()
    criteria = f"identifier={CPR_SYSTEM}|{cpr}"

    def create(client: httpx.AsyncClient):
        return client.post(
            f"{server}/Patient", json=patient(cpr), headers={**FHIR_JSON, "If-None-Exist": criteria}
        )

    responses = asyncio.run(_gather(20, create))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    found = _get(f"{server}/Patient", params={"identifier": f"{CPR_SYSTEM}|{cpr}"}).json()
    assert found["total"] == 1


def test_parallel_if_match_updates_exactly_one_succeeds(server: str) -> None:
    created = _post(f"{server}/CarePlan", json=careplan()).json()
    url = f"{server}/CarePlan/{created['id']}"

    def update(client: httpx.AsyncClient):
        return client.put(
            url, json={**created, "status": "completed"}, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
        )

    responses = asyncio.run(_gather(10, update))
    assert sorted(r.status_code for r in responses) == [200] + [412] * 9
    history = _get(f"{url}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_parallel_blind_updates_leave_a_gapless_history(server: str) -> None:
    created = _post(f"{server}/CarePlan", json=careplan()).json()
    url = f"{server}/CarePlan/{created['id']}"

    def update(client: httpx.AsyncClient):
        return client.put(url, json=created, headers=FHIR_JSON)

    responses = asyncio.run(_gather(20, update))
    assert all(r.status_code == 200 for r in responses)
    versions = {r.json()["meta"]["versionId"] for r in responses}
    assert versions == {str(v) for v in range(2, 22)}
    history = _get(f"{url}/_history", params={"_count": 100}).json()
    assert [int(e["response"]["etag"][3:-1]) for e in history["entry"]] == list(range(21, 0, -1))


def test_transactions_naming_the_same_criteria_in_opposite_orders_do_not_deadlock(
    server: str,
) -> None:
    def org_entry(sor: str) -> dict:
        return {
            "resource": {
                "resourceType": "Organization",
                "identifier": [{"system": "urn:oid:1.2.208.176.1.1", "value": sor}],
                "name": f"Org {sor}",
            },
            "request": {
                "method": "POST",
                "url": "Organization",
                "ifNoneExist": f"identifier=urn:oid:1.2.208.176.1.1|{sor}",
            },
        }

    pairs = [(f"9{i:014d}1", f"9{i:014d}2") for i in range(10)]

    def bundle(first: str, second: str) -> dict:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [org_entry(first), org_entry(second)],
        }

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers={**HEADERS, **FHIR_JSON}) as client:
            return await asyncio.gather(
                *(client.post(server, json=bundle(a, b)) for a, b in pairs),
                *(client.post(server, json=bundle(b, a)) for a, b in pairs),
            )

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 20
    for a, b in pairs:
        for sor in (a, b):
            found = _get(
                f"{server}/Organization", params={"identifier": f"urn:oid:1.2.208.176.1.1|{sor}"}
            )
            assert found.json()["total"] == 1
