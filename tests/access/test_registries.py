"""External custody registry and treatment-relation service: one contract, two implementations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.integrations.registries import (
    FakeCustodyRegistry,
    FakeTreatmentRelationService,
    HttpCustodyRegistry,
    HttpTreatmentRelationService,
    ServiceUnavailable,
)
from app.interactions.access_setup import ExternalRegistries
from app.main import create_app
from app.settings import Settings
from tests.access.world import ANDERS_JENSEN, EINER, OTHER_MUNICIPALITY_SOR, load_world
from tests.support.databases import truncate_all
from tests.support.tokens import LARS_BERGGREN, TokenFactory, bearer


def _served_by(pairs: set[tuple[str, str]], keys: tuple[str, str]) -> httpx.AsyncClient:
    """An httpx client whose server answers from `pairs`, per the wire contract."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.method == "POST" and "cpr" not in str(request.url)
        return httpx.Response(200, json={"result": (body[keys[0]], body[keys[1]]) in pairs})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _failing(status: int | None) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status, json={})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


PAIR = ("2911829996", "0505159995")


def custody_registries() -> list[Any]:
    return [
        FakeCustodyRegistry({PAIR}),
        HttpCustodyRegistry(
            "http://registry.test/custody", _served_by({PAIR}, ("parent_cpr", "child_cpr"))
        ),
    ]


def relation_services() -> list[Any]:
    return [
        FakeTreatmentRelationService({PAIR}),
        HttpTreatmentRelationService(
            "http://registry.test/relation", _served_by({PAIR}, ("org_sor", "patient_cpr"))
        ),
    ]


@pytest.mark.parametrize("registry", custody_registries(), ids=["fake", "http"])
async def test_custody_registry_contract(registry: Any) -> None:
    assert await registry.has_custody(*PAIR) is True
    assert await registry.has_custody(PAIR[1], PAIR[0]) is False


@pytest.mark.parametrize("service", relation_services(), ids=["fake", "http"])
async def test_treatment_relation_contract(service: Any) -> None:
    assert await service.has_relation(*PAIR) is True
    assert await service.has_relation("1", PAIR[1]) is False


@pytest.mark.parametrize("status", [None, 500, 404])
async def test_an_unreachable_service_is_never_an_allow(status: int | None) -> None:
    registry = HttpCustodyRegistry("http://registry.test/custody", _failing(status))
    with pytest.raises(ServiceUnavailable) as raised:
        await registry.has_custody(*PAIR)
    assert raised.value.status == 503


@pytest.fixture
def app_with(settings: Settings, tokens: TokenFactory) -> Iterator[Any]:
    def make(registries: ExternalRegistries) -> TestClient:
        truncate_all(settings.database_url)
        load_world(settings)
        return TestClient(create_app(settings, auth=tokens.auth_service(), registries=registries))

    yield make


def test_registry_confirmed_custody_opens_the_child(app_with: Any, tokens: TokenFactory) -> None:
    registry = FakeCustodyRegistry({(ANDERS_JENSEN, LARS_BERGGREN)})
    with app_with(ExternalRegistries(custody=registry)) as client:
        father = bearer(tokens.custody_parent(ANDERS_JENSEN, LARS_BERGGREN))
        bundle = client.get("/fhir/CarePlan", headers=father).json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == ["lars-plan"]


def test_unreachable_custody_registry_is_503(app_with: Any, tokens: TokenFactory) -> None:
    registry = HttpCustodyRegistry("http://registry.test/custody", _failing(None))
    with app_with(ExternalRegistries(custody=registry)) as client:
        father = bearer(tokens.custody_parent(ANDERS_JENSEN, LARS_BERGGREN))
        assert client.get("/fhir/CarePlan", headers=father).status_code == 503


def test_service_confirmed_treatment_relation_opens_the_named_patient(
    app_with: Any, tokens: TokenFactory
) -> None:
    service = FakeTreatmentRelationService({(OTHER_MUNICIPALITY_SOR, EINER)})
    with app_with(ExternalRegistries(treatment_relation=service)) as client:
        odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs"))
        assert client.get("/fhir/CarePlan/einer-other", headers=odder).status_code == 200
        found = client.get(
            "/fhir/CarePlan", params={"subject": "Patient/einer"}, headers=odder
        ).json()
        assert found["total"] == 2
        assert client.get("/fhir/CarePlan/lars-plan", headers=odder).status_code == 404


def test_unreachable_treatment_relation_service_is_503(app_with: Any, tokens: TokenFactory) -> None:
    service = HttpTreatmentRelationService("http://registry.test/relation", _failing(503))
    with app_with(ExternalRegistries(treatment_relation=service)) as client:
        odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs"))
        assert client.get("/fhir/CarePlan/einer-other", headers=odder).status_code == 503
