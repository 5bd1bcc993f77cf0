"""`$rehabilitation-outcomes`: a municipality's quality data, counted on a data set with
known answers, suppressed, refused to anyone else, and audited (docs/quality-data.md)."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from app.access.policy import AccessPolicy
from app.access.principal import Principal
from app.access.quality_data import OutcomeCounts, Quarter
from app.main import authorities
from app.settings import Settings
from app.storage.audit_log import every_event
from app.storage.engine import create_engine_async
from app.storage.unit_of_work import Storage
from tests.access.world import JUST_15_CPR, OTHER_MUNICIPALITY_SOR, load_world, rule_of
from tests.quality.data import (
    HOSPITAL_SOR,
    MUNICIPALITY_SOR,
    ODDER_KOMMUNEKODE,
    Q1_COUNTS,
    Q2_COUNTS,
    DataSet,
    data_set,
    load,
    municipality,
)
from tests.support.tokens import KIRSTEN_BERGGREN, LARS_BERGGREN, TokenFactory, bearer

URL = "/fhir/$rehabilitation-outcomes"
Q1, Q2 = Quarter(2025, 1), Quarter(2025, 2)
MASKED = {
    "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}
    ]
}


@pytest.fixture
def data(app: FastAPI, settings: Settings) -> DataSet:
    built = data_set()
    load(settings, built)
    return built


@pytest.fixture
def api(app: FastAPI, data: DataSet) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def bare(app: FastAPI) -> Iterator[TestClient]:
    """The app on an empty database (refusals and bad input need no data)."""
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def world(app: FastAPI, settings: Settings) -> Iterator[TestClient]:
    """The access world: Kirsten's verified custody of Lars (under 15) and of a 15-year-old."""
    load_world(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def horsens(tokens: TokenFactory, scopes: str = "system/CarePlan.rs") -> dict[str, str]:
    return bearer(tokens.system(sor=MUNICIPALITY_SOR, scopes=scopes, kommunekode="0615"))


def counts(settings: Settings, principal: Principal) -> dict[Quarter, OutcomeCounts]:
    """The true counts, as the repository computes them for this principal."""

    async def run() -> dict[Quarter, OutcomeCounts]:
        engine = create_engine_async(settings.database_url)
        try:
            storage = Storage(engine, base_url=settings.base_url)
            policy = AccessPolicy(principal, authorities(settings))
            async with storage.unit_of_work(policy, write=False) as repo:
                _, found = await repo.rehabilitation_outcomes([Q1, Q2])
            return found
        finally:
            await engine.dispose()

    return asyncio.run(run())


def audit_events(settings: Settings) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        engine = create_engine_async(settings.database_url)
        try:
            async with engine.connect() as conn:
                return await every_event(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def quarters(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """label -> {part name: the part} of each quarter parameter."""
    found = {}
    for p in body["parameter"]:
        if p["name"] == "quarter":
            parts = {part["name"]: part for part in p["part"]}
            found[parts["label"]["valueString"]] = parts
    return found


def cell(parts: dict[str, Any], name: str) -> int | None:
    """A count, or None when it is suppressed (masked, no value)."""
    part = parts[name]
    if "valueInteger" in part:
        return int(part["valueInteger"])
    assert part["_valueInteger"] == MASKED
    return None


def test_counts_per_quarter_on_known_answers(
    api: TestClient, settings: Settings, tokens: TokenFactory
) -> None:
    """Days 0, 29, 30 count within 30 days; 31, 89, 90 within 90; day 91, a plan before the
    completion, another municipality's and a GP's plan not at all; the opted-out citizen,
    Odder's plan, an active plan and a plan Horsens wrote itself (naming the hospital as
    author) are not among Horsens' completed plans; a plan hidden
    from custody holders is (Q2: completed 1 April, 15 April and 10 May)."""
    found = counts(settings, municipality(tokens))
    assert found[Q1] == OutcomeCounts(*Q1_COUNTS)
    assert found[Q2] == OutcomeCounts(*Q2_COUNTS)


def test_another_municipality_counts_only_its_own_plans(
    api: TestClient, settings: Settings, tokens: TokenFactory
) -> None:
    odder = municipality(tokens, OTHER_MUNICIPALITY_SOR, ODDER_KOMMUNEKODE)
    assert counts(settings, odder) == {Q1: OutcomeCounts(1, 1, 1), Q2: OutcomeCounts()}


def test_the_answer_is_suppressed_parameters(api: TestClient, tokens: TokenFactory) -> None:
    """Q1 (12, 3, 6): 3 is a small cell, so the 30-day count is masked; 90 days stays, since
    neither 6 nor 12 - 6 is small. Q2 has 3 plans: everything masked."""
    response = api.get(URL, params={"from": "2025-Q1", "to": "2025-Q2"}, headers=horsens(tokens))
    assert response.status_code == 200, response.text
    body = response.json()
    get_fhir_model_class("Parameters").model_validate(body)
    by_quarter = quarters(body)
    assert list(by_quarter) == ["2025-Q1", "2025-Q2"]
    q1, q2 = by_quarter["2025-Q1"], by_quarter["2025-Q2"]
    assert q1["period"]["valuePeriod"] == {"start": "2025-01-01", "end": "2025-03-31"}
    assert q1["followUpComplete"]["valueBoolean"] is True
    assert cell(q1, "completedPlans") == 12
    assert cell(q1, "hospitalPlanWithin30Days") is None
    assert cell(q1, "hospitalPlanWithin90Days") == 6
    assert [cell(q2, n) for n in ("completedPlans", "hospitalPlanWithin30Days")] == [None, None]
    assert cell(q2, "hospitalPlanWithin90Days") is None
    municipality_parameter = next(p for p in body["parameter"] if p["name"] == "municipality")
    assert municipality_parameter["valueIdentifier"]["value"] == MUNICIPALITY_SOR


def test_post_with_parameters_gives_the_same_answer(api: TestClient, tokens: TokenFactory) -> None:
    got = api.get(URL, params={"from": "2025-Q1", "to": "2025-Q1"}, headers=horsens(tokens))
    posted = api.post(
        URL,
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "from", "valueString": "2025-Q1"},
                {"name": "to", "valueString": "2025-Q1"},
            ],
        },
        headers={**horsens(tokens), "Content-Type": "application/fhir+json"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == got.json()


def test_no_id_or_cpr_is_in_the_answer(
    api: TestClient, tokens: TokenFactory, data: DataSet
) -> None:
    response = api.get(URL, params={"from": "2024-Q1", "to": "2025-Q4"}, headers=horsens(tokens))
    assert response.status_code == 200, response.text
    text = response.text
    for secret in (*data.patient_ids, *data.cprs, *data.plan_ids, "Patient/", "CarePlan/"):
        assert secret not in text, secret
    # Only what the OperationDefinition names: no per-plan detail of any kind.
    names = {p["name"] for p in response.json()["parameter"]}
    assert names == {"definition", "municipality", "minimumCellSize", "quarter"}


def test_the_query_is_audited_once_without_any_patient(
    api: TestClient, settings: Settings, tokens: TokenFactory
) -> None:
    before = len(audit_events(settings))
    response = api.get(URL, params={"from": "2025-Q1", "to": "2025-Q2"}, headers=horsens(tokens))
    assert response.status_code == 200
    events = audit_events(settings)[before:]
    assert len(events) == 1
    event = events[0]
    assert event["subtype"][0]["code"] == "operation"
    assert event["outcome"] == "0"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "HQUALIMP"
    assert event["agent"][0]["who"]["identifier"]["value"] == MUNICIPALITY_SOR
    assert event["agent"][0]["policy"] == [
        "http://esp-careplans.dk/fhir/rule/quality-data-aggregate"
    ]
    entities = event.get("entity", [])
    assert [e["description"] for e in entities] == [
        "$rehabilitation-outcomes?from=2025-Q1&to=2025-Q2"
    ]
    assert "Patient/" not in json.dumps(event)


@pytest.mark.parametrize(
    ("who", "rule"),
    [
        ("hospital", "quality-data-municipalities-only"),
        ("no-careplan-scope", "smart-scope"),
        ("granular-scope", "smart-scope"),
        ("override", "quality-data-municipalities-only"),
        ("custody-holder", "no-verified-custody"),  # nobody's custody in an empty database
        ("citizen", "quality-data-municipalities-only"),
    ],
)
def test_anyone_but_a_municipality_with_careplan_search_is_refused(
    bare: TestClient, settings: Settings, tokens: TokenFactory, who: str, rule: str
) -> None:
    headers = {
        "hospital": bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.rs")),
        "no-careplan-scope": horsens(tokens, "system/Patient.rs system/Condition.rs"),
        "granular-scope": horsens(tokens, "system/CarePlan.rs?subject=Patient/day29"),
        "override": bearer(
            tokens.professional(
                sor=MUNICIPALITY_SOR,
                scopes="user/CarePlan.rs",
                kommunekode="0615",
                override_reason="Akut",
            )
        ),
        "custody-holder": bearer(tokens.custody_parent()),
        "citizen": bearer(tokens.citizen(cpr=KIRSTEN_BERGGREN)),
    }[who]
    before = len(audit_events(settings))
    response = bare.get(URL, params={"from": "2025-Q1", "to": "2025-Q1"}, headers=headers)
    assert response.status_code == 403, response.text
    assert rule_of(response) == rule
    refusals = audit_events(settings)[before:]
    assert [e["outcome"] for e in refusals] == ["4"]
    assert "Patient/" not in json.dumps(refusals)


def test_a_municipal_professional_may_ask(api: TestClient, tokens: TokenFactory) -> None:
    headers = bearer(
        tokens.professional(sor=MUNICIPALITY_SOR, scopes="user/CarePlan.rs", kommunekode="0615")
    )
    response = api.get(URL, params={"from": "2025-Q1", "to": "2025-Q1"}, headers=headers)
    assert response.status_code == 200, response.text
    assert cell(quarters(response.json())["2025-Q1"], "completedPlans") == 12


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"to": "2025-Q1"}, "from"),
        ({"from": "2025-Q1"}, "to"),
        ({"from": "2025-1", "to": "2025-Q1"}, "from"),
        ({"from": "2025-Q1", "to": "2025-Q5"}, "to"),
        ({"from": "2025-01-01", "to": "2025-Q1"}, "from"),
        ({"from": "2025-Q2", "to": "2025-Q1"}, "from"),
        ({"from": "2000-Q1", "to": "2025-Q1"}, "to"),  # more than 40 quarters
        ({"from": "2025-Q1", "to": "2999-Q1"}, "to"),  # after the current quarter
        ({"from": "2025-Q1", "to": "2025-Q1", "municipality": "x"}, "municipality"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    bare: TestClient, tokens: TokenFactory, params: dict[str, str], expression: str
) -> None:
    response = bare.get(URL, params=params, headers=horsens(tokens))
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == [expression]


def test_a_bad_parameters_body_is_400(bare: TestClient, tokens: TokenFactory) -> None:
    headers = {**horsens(tokens), "Content-Type": "application/fhir+json"}
    for body, expression in (
        ({"resourceType": "Patient"}, "Parameters"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "from", "valueInteger": 2025}]},
            "Parameters.parameter[0]",
        ),
    ):
        response = bare.post(URL, json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["expression"] == [expression]
    twice = bare.post(
        URL + "?from=2025-Q1",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "from", "valueString": "2025-Q1"}],
        },
        headers=headers,
    )
    assert twice.status_code == 400
    assert twice.json()["issue"][0]["expression"] == ["Parameters.parameter[0]"]


def test_the_operation_is_in_the_capability_statement(bare: TestClient) -> None:
    statement = bare.get("/fhir/metadata").json()
    operations = {o["name"]: o["definition"] for o in statement["rest"][0]["operation"]}
    definition = operations["rehabilitation-outcomes"]
    assert definition == "http://esp-careplans.dk/fhir/OperationDefinition/rehabilitation-outcomes"
    served = bare.get(
        "/fhir/OperationDefinition/rehabilitation-outcomes",
        headers=bearer(TokenFactory().system(scopes="system/*.rs")),
    )
    assert served.status_code == 200, served.text
    assert served.json()["url"] == definition
    assert {p["name"] for p in served.json()["parameter"]} >= {"from", "to", "quarter"}
    found = bare.get(
        "/fhir/OperationDefinition",
        params={"url": definition},
        headers=bearer(TokenFactory().system(scopes="system/*.rs")),
    ).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["rehabilitation-outcomes"]


@pytest.mark.parametrize(
    ("child", "rule"),
    [
        (LARS_BERGGREN, "quality-data-municipalities-only"),  # verified custody, under 15
        (JUST_15_CPR, "child-15-or-over-sundhedsloven-39a"),
    ],
)
def test_a_custody_holder_is_refused(
    world: TestClient, tokens: TokenFactory, child: str, rule: str
) -> None:
    headers = bearer(tokens.custody_parent(child_cpr=child))
    response = world.get(URL, params={"from": "2025-Q1", "to": "2025-Q1"}, headers=headers)
    assert response.status_code == 403, response.text
    assert rule_of(response) == rule


def test_an_unrelated_municipality_learns_nothing_of_horsens_plans(
    api: TestClient, tokens: TokenFactory
) -> None:
    """Odder's answer holds its one plan (suppressed), not Horsens' twelve."""
    headers = bearer(
        tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs", kommunekode="0727")
    )
    response = api.get(URL, params={"from": "2025-Q1", "to": "2025-Q1"}, headers=headers)
    assert response.status_code == 200, response.text
    q1 = quarters(response.json())["2025-Q1"]
    assert [cell(q1, n) for n in q1 if n.startswith(("completed", "hospital"))] == [None] * 3


def test_the_aggregate_is_reachable_only_through_the_repository() -> None:
    """No second way to the counts: only the repository (which checks the grant) calls it."""
    app_dir = Path(__file__).resolve().parents[2] / "app"
    importers = {
        str(path.relative_to(app_dir))
        for path in app_dir.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (
            node.module == "app.storage.outcomes"
            or (node.module == "app.storage" and any(a.name == "outcomes" for a in node.names))
        )
    }
    assert importers == {"storage/repository.py"}


def test_an_empty_or_broken_post_body_is_400(bare: TestClient, tokens: TokenFactory) -> None:
    headers = {**horsens(tokens), "Content-Type": "application/fhir+json"}
    for content in (b"", b"{", b"[]"):
        response = bare.post(URL, content=content, headers=headers)
        assert response.status_code == 400, (content, response.text)
