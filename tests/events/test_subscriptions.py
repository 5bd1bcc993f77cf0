"""Subscriptions (R4 rest-hook, id-only): handshake, notifications only of what the owner may
see, retries, order, audit; on SQLite and PostgreSQL (issue #15 part 2, docs/events.md).

The API runs in the TestClient; the delivery worker runs in the test's own event loop over
its own engine, like another node, one round at a time, against a real HTTP listener on
loopback (tests/support/listener.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.policy import AccessPolicy
from app.fhir.subscription import EndpointPolicy
from app.interactions.access_setup import ExternalRegistries
from app.main import authorities
from app.settings import Settings
from app.storage.engine import create_engine_async
from app.storage.unit_of_work import Storage
from app.subscriptions.worker import DeliverySettings, DeliveryWorker
from tests.access.world import FHIR_JSON, HIDDEN_LABEL, OTHER_MUNICIPALITY_SOR, _plan, _team_plan
from tests.support.listener import Listener, listening
from tests.support.tokens import (
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
    TokenFactory,
    bearer,
)

BASE = "http://testserver/fhir"


def subscription(endpoint: str, criteria: str = "CarePlan?status=active") -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Genoptræningsplaner til kommunen",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "header": ["Authorization: Bearer secret-of-the-subscriber"],
        },
    }


def subscriber(tokens: TokenFactory, sor: str = MUNICIPALITY_SOR) -> dict[str, str]:
    scopes = "system/CarePlan.rs system/Patient.rs system/Subscription.cruds"
    return {**bearer(tokens.system(sor=sor, scopes=scopes)), **FHIR_JSON}


def hospital(tokens: TokenFactory) -> dict[str, str]:
    return {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}


def subscribe(world: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    created = world.post("/fhir/Subscription", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"
    return str(created.json()["id"])


def push(world: TestClient, tokens: TokenFactory, plan: dict[str, Any]) -> str:
    response = world.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=hospital(tokens))
    assert response.status_code == 201, response.text
    return f"{BASE}/CarePlan/{plan['id']}/_history/1"


def delivery_worker(
    settings: Settings, engine: AsyncEngine, http: httpx.AsyncClient, horizon: timedelta
) -> DeliveryWorker:
    """A worker with fast retries that gives up after `horizon`."""
    return DeliveryWorker(
        Storage(engine, base_url=settings.base_url),
        http,
        endpoints=EndpointPolicy(frozenset(), development=True),
        registries=ExternalRegistries(),
        authorities=authorities(settings),
        settings=DeliverySettings(retry_base=timedelta(milliseconds=5), retry_horizon=horizon),
    )


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[DeliveryWorker]:
    engine = create_engine_async(settings.database_url)
    http = httpx.AsyncClient(timeout=10)
    yield delivery_worker(settings, engine, http, timedelta(seconds=30))
    await http.aclose()
    await engine.dispose()


@pytest.fixture
def listener() -> Any:
    with listening() as running:
        yield running


async def drain(worker: DeliveryWorker, rounds: int = 30) -> None:
    """Rounds until nothing is due (retries are due after a few milliseconds here)."""
    idle = 0
    for _ in range(rounds):
        if await worker.run_once() == 0:
            idle += 1
            if idle >= 3:
                return
        else:
            idle = 0
        await asyncio.sleep(0.02)


async def test_a_subscription_is_handshaken_then_notified_id_only_of_what_it_may_see(
    world: TestClient, tokens: TokenFactory, worker: DeliveryWorker, listener: Listener
) -> None:
    horsens = subscriber(tokens)
    sid = subscribe(world, horsens, subscription(listener.url))
    await drain(worker)
    assert listener.handshakes() == 1
    assert listener.headers[0]["Authorization"] == "Bearer secret-of-the-subscriber"
    assert world.get(f"/fhir/Subscription/{sid}", headers=horsens).json()["status"] == "active"
    # The worker's status change is a version with its Provenance, seen by the owner only.
    owner = {**bearer(tokens.system(sor=MUNICIPALITY_SOR, scopes="system/*.rs")), **FHIR_JSON}
    provenance = world.get(
        "/fhir/Provenance",
        params={"target": f"Subscription/{sid}", "_sort": "recorded"},
        headers=owner,
    ).json()
    versions = [e["resource"]["target"][0]["reference"] for e in provenance["entry"]]
    assert versions == [f"Subscription/{sid}/_history/1", f"Subscription/{sid}/_history/2"]
    (worker_agent,) = provenance["entry"][1]["resource"]["agent"]
    assert worker_agent["who"]["display"] == "esp-careplans (internal job: subscription-worker)"
    others = world.get(
        "/fhir/Provenance", params={"target": f"Subscription/{sid}"}, headers=hospital(tokens)
    ).json()
    assert others["total"] == 0

    named = push(world, tokens, _team_plan("gitte-rehab", "gitte", "hospital", "horsens-kommune"))
    push(world, tokens, _plan("lars-other", "lars", "hospital"))  # Horsens is not named
    push(world, tokens, _team_plan("einer-2", "einer", "hospital", "horsens-kommune"))  # opted out
    await drain(worker)
    assert listener.events() == [named]
    notification = listener.received[-1]
    assert notification["type"] == "history"
    assert all("resource" not in e for e in notification["entry"][1:])  # id-only: no data
    status = {p["name"]: p for p in notification["entry"][0]["resource"]["parameter"]}
    assert status["type"]["valueCode"] == "event-notification"
    assert status["events-since-subscription-start"]["valueString"] == "1"
    # The subscriber fetches what it was told of with its own token.
    assert world.get("/fhir/CarePlan/gitte-rehab", headers=horsens).status_code == 200
    # Gitte's MinLog has the notification, naming Horsens Kommune.
    log = world.get(
        "/fhir/AuditEvent",
        params={"patient": "Patient/gitte"},
        headers=bearer(tokens.citizen(cpr="0505109990")),
    ).json()
    notified = [
        e["resource"]
        for e in log.get("entry", [])
        if e["resource"]["subtype"][0]["code"] == "subscription-notification"
    ]
    assert notified and notified[0]["outcome"] == "0"
    assert any(
        a["who"].get("identifier", {}).get("value") == MUNICIPALITY_SOR
        for a in notified[0]["agent"]
    )


async def test_an_unrelated_municipality_is_never_notified(
    world: TestClient, tokens: TokenFactory, worker: DeliveryWorker, listener: Listener
) -> None:
    subscribe(world, subscriber(tokens, OTHER_MUNICIPALITY_SOR), subscription(listener.url))
    await drain(worker)
    push(world, tokens, _team_plan("gitte-rehab", "gitte", "hospital", "horsens-kommune"))
    push(world, tokens, _plan("lars-other", "lars", "hospital"))
    await drain(worker)
    assert listener.handshakes() == 1 and listener.events() == []


async def test_a_hidden_label_stops_the_custody_holders_notification(
    world: TestClient, tokens: TokenFactory, worker: DeliveryWorker, listener: Listener
) -> None:
    parent = {
        **bearer(
            tokens.custody_parent(
                KIRSTEN_BERGGREN, LARS_BERGGREN, scopes="patient/*.rs patient/Subscription.cud"
            )
        ),
        **FHIR_JSON,
    }
    subscribe(world, parent, subscription(listener.url, "CarePlan?subject=Patient/lars"))
    await drain(worker)
    shown = push(world, tokens, _plan("lars-new", "lars", "hospital"))
    push(world, tokens, _plan("lars-secret", "lars", "hospital", meta={"security": [HIDDEN_LABEL]}))
    await drain(worker)
    assert listener.events() == [shown]


async def test_failed_deliveries_are_retried_in_order_and_audited(
    world: TestClient, tokens: TokenFactory, worker: DeliveryWorker, listener: Listener
) -> None:
    horsens = subscriber(tokens)
    subscribe(world, horsens, subscription(listener.url))
    await drain(worker)
    listener.fail_first = len(listener.received) + 2  # the next two POSTs answer 500
    first = push(world, tokens, _team_plan("gitte-1", "gitte", "hospital", "horsens-kommune"))
    second = push(world, tokens, _team_plan("gitte-2", "gitte", "hospital", "horsens-kommune"))
    await drain(worker)
    assert listener.answered.count(500) == 2
    assert listener.events() == [first, second]  # each once, in order, after the retries
    numbers = [
        next(
            p["valueString"]
            for p in body["entry"][0]["resource"]["parameter"]
            if p["name"] == "events-since-subscription-start"
        )
        for body, status in zip(listener.received, listener.answered, strict=True)
        if status == 200 and len(body["entry"]) > 1
    ]
    assert numbers == ["1", "2"]
    log = world.get(
        "/fhir/AuditEvent",
        params={"patient": "Patient/gitte"},
        headers=bearer(tokens.citizen(cpr="0505109990")),
    ).json()
    outcomes = sorted(
        e["resource"]["outcome"]
        for e in log.get("entry", [])
        if e["resource"]["subtype"][0]["code"] == "subscription-notification"
    )
    assert outcomes == ["0", "0", "8", "8"]  # every attempt, failed ones too


async def test_after_the_retry_horizon_the_subscription_is_in_error(
    world: TestClient, tokens: TokenFactory, settings: Settings, listener: Listener
) -> None:
    engine = create_engine_async(settings.database_url)
    async with httpx.AsyncClient(timeout=10) as http:
        worker = delivery_worker(settings, engine, http, timedelta(milliseconds=50))
        listener.fail_first = 10_000
        horsens = subscriber(tokens)
        sid = subscribe(world, horsens, subscription(listener.url))
        for _ in range(20):
            await worker.run_once()
            await asyncio.sleep(0.02)
    await engine.dispose()
    current = world.get(f"/fhir/Subscription/{sid}", headers=horsens).json()
    assert current["status"] == "error" and "HTTP 500" in current["error"]


def test_only_the_owner_sees_or_changes_a_subscription(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = subscriber(tokens)
    sid = subscribe(world, horsens, subscription("http://127.0.0.1:9/notify"))
    odder = subscriber(tokens, OTHER_MUNICIPALITY_SOR)
    assert world.get(f"/fhir/Subscription/{sid}", headers=odder).status_code == 404
    assert "entry" not in world.get("/fhir/Subscription", headers=odder).json()
    body = {**subscription("http://127.0.0.1:9/notify"), "id": sid}
    assert world.put(f"/fhir/Subscription/{sid}", json=body, headers=odder).status_code == 404
    mine = world.get("/fhir/Subscription", headers=horsens).json()
    assert [e["resource"]["id"] for e in mine["entry"]] == [sid]


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://omsorg.horsens.dk/fhir-notify", True),
        ("http://omsorg.horsens.dk/fhir-notify", False),  # https only, loopback aside
        ("https://intranet.region.local/admin", False),  # not listed
        ("https://user:secret@omsorg.horsens.dk/x", False),
        ("http://127.0.0.1:8080/notify", True),  # loopback in development
    ],
)
def test_notifications_go_only_to_listed_https_hosts(
    world: TestClient, tokens: TokenFactory, endpoint: str, allowed: bool, monkeypatch: Any
) -> None:
    service = world.app.state.service  # type: ignore[attr-defined]
    monkeypatch.setattr(
        service.writes,
        "endpoints",
        EndpointPolicy(frozenset({"omsorg.horsens.dk"}), development=True),
    )
    response = world.post(
        "/fhir/Subscription", json=subscription(endpoint), headers=subscriber(tokens)
    )
    assert (response.status_code == 201) is allowed, response.text
    if not allowed:
        assert response.json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]


def test_production_allows_no_loopback_and_no_http() -> None:
    from app.fhir.outcome import FhirError

    production = EndpointPolicy(frozenset({"omsorg.horsens.dk"}), development=False)
    production.check("https://omsorg.horsens.dk/x")
    for endpoint in (
        "http://127.0.0.1:8080/x",
        "https://localhost/x",
        "http://omsorg.horsens.dk/x",
    ):
        with pytest.raises(FhirError):
            production.check(endpoint)


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ({"criteria": "CarePlan"}, "Subscription.criteria"),
        ({"criteria": "CarePlan?colour=red"}, "Subscription.criteria"),
        ({"criteria": "CarePlan?status=active&_sort=date"}, "Subscription.criteria"),
        ({"channel": {"type": "websocket", "endpoint": "x"}}, "Subscription.channel.type"),
        (
            {"channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/n", "header": ["x"]}},
            "Subscription.channel.header[0]",
        ),
        (
            {
                "channel": {
                    "type": "rest-hook",
                    "endpoint": "http://127.0.0.1:9/n",
                    "payload": "application/fhir+json",
                    "_payload": {
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                                "valueCode": "full-resource",
                            }
                        ]
                    },
                }
            },
            "Subscription.channel.payload.extension",
        ),
    ],
)
def test_a_subscription_we_cannot_serve_is_refused_naming_the_element(
    world: TestClient, tokens: TokenFactory, change: dict[str, Any], expression: str
) -> None:
    body = {**subscription("http://127.0.0.1:9/notify"), **change}
    response = world.post("/fhir/Subscription", json=body, headers=subscriber(tokens))
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


async def test_the_outbox_ledger_is_refused_to_every_principal_but_the_services_own(
    settings: Settings, tokens: TokenFactory
) -> None:
    engine = create_engine_async(settings.database_url)
    storage = Storage(engine, base_url=settings.base_url)
    municipality = AccessPolicy(tokens.principal(tokens.system_claims(sor=MUNICIPALITY_SOR)))
    try:
        async with storage.unit_of_work(municipality, write=False) as repo:
            with pytest.raises(PermissionError):
                repo.subscription_ledger  # noqa: B018
        async with storage.unit_of_work(AccessPolicy.internal("test"), write=False) as repo:
            assert repo.subscription_ledger is not None
    finally:
        await engine.dispose()
