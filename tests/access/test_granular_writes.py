"""Granular SMART scopes on writes, decided by the in-memory matcher (access/granular.py):
each test is an attack that tries to write outside the scope it was given."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.access.decision import RowFilter
from app.access.granular import within_granular_scope
from app.access.rules import Rule
from app.fhir.search.memory import NeedsOtherResources
from tests.access.world import FHIR_JSON, rule_of
from tests.support.tokens import HOSPITAL_SOR, TokenFactory, bearer

REQUEST_STATUS = "http://hl7.org/fhir/request-status"
NEW_PLAN = {"resourceType": "CarePlan", "status": "active", "intent": "plan"}


def scoped(tokens: TokenFactory, scope: str) -> dict[str, str]:
    return {**bearer(tokens.system(sor=HOSPITAL_SOR, scopes=scope)), **FHIR_JSON}


def plan_for(patient: str, **extra: object) -> dict[str, object]:
    return {**NEW_PLAN, "subject": {"reference": f"Patient/{patient}"}, **extra}


def test_a_plan_cannot_be_moved_out_of_the_scope_by_update_or_patch(
    world: TestClient, tokens: TokenFactory
) -> None:
    active_only = scoped(tokens, "system/CarePlan.ru?status=active")
    plan = world.get("/fhir/CarePlan/lars-plan", headers=active_only).json()
    moved = world.put(
        "/fhir/CarePlan/lars-plan", json={**plan, "status": "completed"}, headers=active_only
    )
    assert moved.status_code == 403 and rule_of(moved) == Rule.SCOPE.value
    patched = world.patch(
        "/fhir/CarePlan/lars-plan",
        json=[{"op": "replace", "path": "/status", "value": "completed"}],
        headers={**active_only, "Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 403 and rule_of(patched) == Rule.SCOPE.value
    kept = world.get("/fhir/CarePlan/lars-plan", headers=active_only).json()
    assert kept["status"] == "active"
    assert kept["meta"]["versionId"] == plan["meta"]["versionId"]  # nothing was written
    changed = world.put(
        "/fhir/CarePlan/lars-plan", json={**plan, "description": "Ny"}, headers=active_only
    )
    assert changed.status_code == 200  # within the scope, the same write succeeds


def test_a_bare_id_scope_means_that_patient_only(world: TestClient, tokens: TokenFactory) -> None:
    lars_only = scoped(tokens, "system/CarePlan.c?subject=lars")
    assert world.post("/fhir/CarePlan", json=plan_for("lars"), headers=lars_only).status_code == 201
    refused = world.post("/fhir/CarePlan", json=plan_for("gitte"), headers=lars_only)
    assert refused.status_code == 403 and rule_of(refused) == Rule.SCOPE.value


def test_a_status_scope_takes_the_code_system_the_element_implies(
    world: TestClient, tokens: TokenFactory
) -> None:
    drafts = scoped(tokens, f"system/CarePlan.c?status={REQUEST_STATUS}|draft")
    draft = plan_for("lars", status="draft")
    assert world.post("/fhir/CarePlan", json=draft, headers=drafts).status_code == 201
    active = world.post("/fhir/CarePlan", json=plan_for("lars"), headers=drafts)
    assert active.status_code == 403 and rule_of(active) == Rule.SCOPE.value
    other_system = scoped(tokens, "system/CarePlan.c?status=urn:other|draft")
    refused = world.post("/fhir/CarePlan", json=draft, headers=other_system)
    assert refused.status_code == 403 and rule_of(refused) == Rule.SCOPE.value


def test_a_scope_on_a_parameter_the_type_lacks_permits_no_write(
    world: TestClient, tokens: TokenFactory
) -> None:
    males = scoped(tokens, "system/CarePlan.c?gender=male")
    refused = world.post("/fhir/CarePlan", json=plan_for("lars"), headers=males)
    assert refused.status_code == 403 and rule_of(refused) == Rule.SCOPE.value


@pytest.mark.parametrize(
    "params",
    [(("subject.name", "Lars"),), (("_has:Goal:patient:lifecycle-status", "active"),)],
)
def test_criteria_that_need_other_resources_are_refused_not_guessed(
    params: tuple[tuple[str, str], ...],
) -> None:
    f = RowFilter(rule=Rule.NON_PATIENT_DATA, granular=(params,))
    content = plan_for("lars", id="x")
    rtype = "Patient" if params[0][0].startswith("_has") else "CarePlan"
    with pytest.raises(NeedsOtherResources) as refused:
        within_granular_scope(f, rtype, {**content, "resourceType": rtype}, base_url="http://x")
    assert refused.value.status == 400
    assert refused.value.issues[0].code == "not-supported"
    assert refused.value.issues[0].expression == (params[0][0],)


def test_no_granular_filter_and_deny_all_are_decided_without_matching() -> None:
    content = plan_for("lars", id="x")
    assert within_granular_scope(
        RowFilter(rule=Rule.NON_PATIENT_DATA), "CarePlan", content, base_url="http://x"
    )
    assert not within_granular_scope(
        RowFilter.nothing(Rule.SCOPE), "CarePlan", content, base_url=""
    )
