"""The access rules, rule by rule, on SQLite and PostgreSQL (docs/authorization.md).

Each test names the rule it guards; removing the rule makes it fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.access.world import (
    ANDERS_JENSEN,
    EINER,
    JUST_15_CPR,
    NEARLY_15_CPR,
    OTHER_MUNICIPALITY_SOR,
    load_world,
)
from tests.support.tokens import (
    GITTE_BERGGREN,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
    TokenFactory,
    bearer,
)

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def world(app: FastAPI, settings: Any) -> Iterator[TestClient]:
    load_world(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def ids(bundle: dict[str, Any], resource_type: str | None = None) -> list[str]:
    return sorted(
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if resource_type is None or e["resource"]["resourceType"] == resource_type
    )


def rule_of(response: Any) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


# -- treatment relation (sundhedsloven §42a) ----------------------------------------


def test_hospital_sees_the_plans_it_authored_including_hidden_ones(
    world: TestClient, tokens: TokenFactory
) -> None:
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.rs"))
    plans = world.get("/fhir/CarePlan", params={"subject": "Patient/lars"}, headers=hospital).json()
    assert ids(plans) == ["lars-hidden", "lars-plan"]


def test_unrelated_municipality_sees_nothing(world: TestClient, tokens: TokenFactory) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs"))
    plans = world.get("/fhir/CarePlan", headers=odder).json()
    assert plans["total"] == 0 and "entry" not in plans
    assert world.get("/fhir/CarePlan/lars-plan", headers=odder).status_code == 404
    assert world.get("/fhir/Patient/einer", headers=odder).status_code == 404
    assert world.get("/fhir/CarePlan/lars-plan/_history", headers=odder).status_code == 404
    assert world.get("/fhir/CarePlan/lars-plan/_history/1", headers=odder).status_code == 404
    history = world.get("/fhir/CarePlan/_history", headers=odder).json()
    assert "entry" not in history


def test_care_team_membership_is_a_treatment_relation(
    world: TestClient, tokens: TokenFactory
) -> None:
    # Horsens Kommune is in the care team of Einer's rehabilitation plan, but Einer
    # opted out of sharing with it: with an override it sees the plan, nothing else.
    horsens = bearer(tokens.professional(sor=MUNICIPALITY_SOR))
    reason = quote("Akut indlæggelse")  # percent-encoded UTF-8: HTTP headers are ASCII
    response = world.get(
        "/fhir/CarePlan",
        params={"subject": "Patient/einer"},
        headers={**horsens, "X-Consent-Override": reason},
    )
    assert ids(response.json()) == ["einer-other", "einer-rehab"]
    lars = world.get("/fhir/CarePlan", params={"subject": "Patient/lars"}, headers=horsens).json()
    assert lars["total"] == 0


def test_update_needs_the_relation_and_cannot_move_a_plan_to_another_patient(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    plan = world.get("/fhir/CarePlan/lars-plan", headers=bearer(tokens.system())).json()
    assert (
        world.put("/fhir/CarePlan/lars-plan", json=plan, headers={**odder, **FHIR_JSON}).status_code
        == 404
    )
    hospital = bearer(tokens.system())
    moved = {**plan, "subject": {"reference": "Patient/gitte"}}
    response = world.put("/fhir/CarePlan/lars-plan", json=moved, headers={**hospital, **FHIR_JSON})
    assert response.status_code == 403
    assert rule_of(response) == "write-keeps-patient"


def test_creating_for_a_patient_establishes_the_relation(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/gitte"},
    }
    assert (
        world.post("/fhir/CarePlan", json=plan, headers={**odder, **FHIR_JSON}).status_code == 201
    )
    seen = world.get("/fhir/CarePlan", params={"subject": "Patient/gitte"}, headers=odder).json()
    assert seen["total"] == 2
    assert "gitte-plan" in ids(seen)


# -- opt-out (negativt samtykke) and emergency override (værdispring) ---------------


def test_opt_out_hides_everything_from_the_blocked_organisation(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = bearer(tokens.system(sor=MUNICIPALITY_SOR, scopes="system/*.rs"))
    searches = [
        ("/fhir/CarePlan", {"subject": "Patient/einer"}),
        ("/fhir/CarePlan", {"patient.identifier": f"urn:oid:1.2.208.176.1.2|{EINER}"}),
        ("/fhir/Patient", {"_id": "einer", "_revinclude": "CarePlan:subject"}),
        ("/fhir/Patient", {"_has:CarePlan:subject:status": "active"}),
        ("/fhir/Condition", {"subject": "Patient/einer"}),
    ]
    for path, params in searches:
        bundle = world.get(path, params=params, headers=horsens).json()
        assert bundle.get("total") == 0 and "entry" not in bundle, (path, params, bundle)
    assert world.get("/fhir/CarePlan/einer-rehab", headers=horsens).status_code == 404
    # The hospital, not named in the opt-out, still sees the same data.
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.rs"))
    assert (
        world.get("/fhir/CarePlan", params={"subject": "Patient/einer"}, headers=hospital).json()[
            "total"
        ]
        == 2
    )


def test_the_opt_out_itself_stays_visible_so_professionals_know_data_is_blocked(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = bearer(tokens.system(sor=MUNICIPALITY_SOR, scopes="system/*.rs"))
    assert world.get("/fhir/Consent/einer-optout", headers=horsens).status_code == 200


def test_override_lifts_the_opt_out_and_is_audited(world: TestClient, tokens: TokenFactory) -> None:
    professional = bearer(tokens.professional(sor=MUNICIPALITY_SOR))
    reason = quote("Bevidstløs patient")
    response = world.get(
        "/fhir/CarePlan/einer-rehab", headers={**professional, "X-Consent-Override": reason}
    )
    assert response.status_code == 200
    einer = bearer(tokens.citizen(cpr=EINER))
    log = world.get("/fhir/AuditEvent", params={"patient": "Patient/einer"}, headers=einer).json()
    overrides = [
        e["resource"]
        for e in log.get("entry", [])
        if any(
            t.get("code") == "consent-override"
            for t in e["resource"].get("meta", {}).get("tag", [])
        )
    ]
    assert overrides, log
    event = overrides[0]
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert event["purposeOfEvent"][0]["text"] == "Bevidstløs patient"


def test_override_claim_in_the_token_also_works(world: TestClient, tokens: TokenFactory) -> None:
    professional = bearer(tokens.professional(sor=MUNICIPALITY_SOR, override_reason="Akut"))
    assert world.get("/fhir/CarePlan/einer-rehab", headers=professional).status_code == 200


@pytest.mark.parametrize("who", ["system", "citizen"])
def test_override_by_a_system_or_a_citizen_is_403(
    world: TestClient, tokens: TokenFactory, who: str
) -> None:
    token = tokens.system(sor=MUNICIPALITY_SOR) if who == "system" else tokens.citizen(cpr=EINER)
    response = world.get("/fhir/CarePlan", headers={**bearer(token), "X-Consent-Override": "Akut"})
    assert response.status_code == 403
    assert rule_of(response) == "override-professionals-only"


# -- parental access (sundhedsloven §39a, §37 stk. 2) ----------------------------------


def test_custody_parent_sees_the_child_but_never_the_hidden_plan(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    plans = world.get("/fhir/CarePlan", headers=parent).json()
    assert ids(plans) == ["lars-plan"] and plans["total"] == 1
    assert world.get("/fhir/CarePlan/lars-hidden", headers=parent).status_code == 404
    assert world.get("/fhir/CarePlan/lars-hidden/_history", headers=parent).status_code == 404
    assert (
        world.get("/fhir/CarePlan", params={"_id": "lars-hidden"}, headers=parent).json()["total"]
        == 0
    )
    with_includes = world.get(
        "/fhir/Patient", params={"_revinclude": "CarePlan:subject"}, headers=parent
    ).json()
    assert ids(with_includes, "CarePlan") == ["lars-plan"]
    assert "lars-hidden" not in str(world.get("/fhir/CarePlan/_history", headers=parent).json())


def test_custody_parent_sees_no_other_child(world: TestClient, tokens: TokenFactory) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert world.get("/fhir/CarePlan/einer-rehab", headers=parent).status_code == 404
    assert (
        world.get("/fhir/CarePlan", params={"subject": "Patient/einer"}, headers=parent).json()[
            "total"
        ]
        == 0
    )


def test_the_child_itself_and_the_clinician_see_the_hidden_plan(
    world: TestClient, tokens: TokenFactory
) -> None:
    child = bearer(tokens.citizen(cpr=LARS_BERGGREN))
    assert ids(world.get("/fhir/CarePlan", headers=child).json()) == ["lars-hidden", "lars-plan"]
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    assert world.get("/fhir/CarePlan/lars-hidden", headers=clinician).status_code == 200


def test_child_of_14_years_364_days_is_allowed(world: TestClient, tokens: TokenFactory) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, NEARLY_15_CPR))
    assert ids(world.get("/fhir/CarePlan", headers=parent).json()) == ["nearly15-plan"]


def test_on_the_15th_birthday_access_ends(world: TestClient, tokens: TokenFactory) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, JUST_15_CPR))
    response = world.get("/fhir/CarePlan", headers=parent)
    assert response.status_code == 403
    assert rule_of(response) == "child-15-or-over-sundhedsloven-39a"


def test_child_over_15_is_403_for_read_too(world: TestClient, tokens: TokenFactory) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, GITTE_BERGGREN))
    assert world.get("/fhir/CarePlan/gitte-plan", headers=parent).status_code == 403


def test_being_father_is_not_custody(world: TestClient, tokens: TokenFactory) -> None:
    father = bearer(tokens.custody_parent(ANDERS_JENSEN, LARS_BERGGREN))
    response = world.get("/fhir/CarePlan", headers=father)
    assert response.status_code == 403
    assert rule_of(response) == "no-verified-custody"


def test_custody_is_read_only(world: TestClient, tokens: TokenFactory) -> None:
    parent = bearer(
        tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN, scopes="patient/*.cruds")
    )
    plan = world.get("/fhir/CarePlan/lars-plan", headers=parent).json()
    response = world.put("/fhir/CarePlan/lars-plan", json=plan, headers={**parent, **FHIR_JSON})
    assert response.status_code == 403


def test_refusals_are_audited_in_the_childs_minlog(world: TestClient, tokens: TokenFactory) -> None:
    world.get("/fhir/CarePlan", headers=bearer(tokens.custody_parent(ANDERS_JENSEN, LARS_BERGGREN)))
    child = bearer(tokens.citizen(cpr=LARS_BERGGREN))
    log = world.get("/fhir/AuditEvent", params={"patient": "Patient/lars"}, headers=child).json()
    refused = [e["resource"] for e in log.get("entry", []) if e["resource"]["outcome"] == "4"]
    assert refused, log
    assert any(
        a["who"].get("identifier", {}).get("value") == ANDERS_JENSEN
        for e in refused
        for a in e["agent"]
    )


# -- MinLog ---------------------------------------------------------------------------


def test_minlog_shows_the_custody_holders_own_viewing(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert world.get("/fhir/CarePlan/lars-plan", headers=parent).status_code == 200
    log = world.get("/fhir/AuditEvent", params={"patient": "Patient/lars"}, headers=parent).json()
    reads = [
        e["resource"]
        for e in log.get("entry", [])
        if e["resource"]["subtype"][0]["code"] == "read"
        and any(
            a["who"].get("identifier", {}).get("value") == KIRSTEN_BERGGREN
            for a in e["resource"]["agent"]
        )
    ]
    assert reads
    assert any(
        a.get("role", [{}])[0].get("coding", [{}])[0].get("code") == "PARAUTH"
        for a in reads[0]["agent"]
    )


def test_minlog_shows_which_organisation_accessed_by_name_and_sor(
    world: TestClient, tokens: TokenFactory
) -> None:
    world.get("/fhir/CarePlan/einer-other", headers=bearer(tokens.system(sor=HOSPITAL_SOR)))
    log = world.get(
        "/fhir/AuditEvent",
        params={"patient": "Patient/einer"},
        headers=bearer(tokens.citizen(cpr=EINER)),
    ).json()
    orgs = [
        a["who"] for e in log["entry"] for a in e["resource"]["agent"] if "identifier" in a["who"]
    ]
    assert {
        "identifier": {"system": "urn:oid:1.2.208.176.1.1", "value": HOSPITAL_SOR},
        "display": "Regionshospitalet Horsens",
    } in orgs


def test_a_citizens_minlog_never_shows_other_patients(
    world: TestClient, tokens: TokenFactory
) -> None:
    world.get("/fhir/CarePlan", headers=bearer(tokens.system(sor=HOSPITAL_SOR)))  # touches everyone
    log = world.get("/fhir/AuditEvent", headers=bearer(tokens.citizen(cpr=EINER))).json()
    patients = {
        entity["what"]["reference"]
        for e in log["entry"]
        for entity in e["resource"].get("entity", [])
        if entity.get("what", {}).get("reference", "").startswith("Patient/")
    }
    assert patients == {"Patient/einer"}


def test_audit_events_are_not_for_professionals(world: TestClient, tokens: TokenFactory) -> None:
    response = world.get("/fhir/AuditEvent", headers=bearer(tokens.professional()))
    assert response.status_code == 403
    assert rule_of(response) == "audit-log-citizen-only"


# -- citizens ------------------------------------------------------------------------


def test_citizen_sees_own_data_only(world: TestClient, tokens: TokenFactory) -> None:
    einer = bearer(tokens.citizen(cpr=EINER))
    assert ids(world.get("/fhir/CarePlan", headers=einer).json()) == ["einer-other", "einer-rehab"]
    assert world.get("/fhir/CarePlan/lars-plan", headers=einer).status_code == 404


def test_citizen_writes_only_own_opt_out(world: TestClient, tokens: TokenFactory) -> None:
    einer = bearer(tokens.citizen(cpr=EINER, scopes="patient/*.rs patient/Consent.cu"))
    consent = world.get("/fhir/Consent/einer-optout", headers=einer).json()
    revoked = {**consent, "status": "inactive"}
    assert (
        world.put(
            "/fhir/Consent/einer-optout", json=revoked, headers={**einer, **FHIR_JSON}
        ).status_code
        == 200
    )
    horsens = bearer(tokens.system(sor=MUNICIPALITY_SOR, scopes="system/*.rs"))
    assert world.get("/fhir/CarePlan/einer-rehab", headers=horsens).status_code == 200
    others = {**consent, "id": None, "patient": {"reference": "Patient/lars"}}
    others.pop("id")
    response = world.post("/fhir/Consent", json=others, headers={**einer, **FHIR_JSON})
    assert response.status_code == 403
    assert rule_of(response) == "citizen-writes-own-opt-out"
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/einer"},
    }
    scoped = bearer(tokens.citizen(cpr=EINER, scopes="patient/*.cruds"))
    assert (
        world.post("/fhir/CarePlan", json=plan, headers={**scoped, **FHIR_JSON}).status_code == 403
    )


# -- SMART scopes only narrow ------------------------------------------------------------


def test_read_scope_cannot_update(world: TestClient, tokens: TokenFactory) -> None:
    reader = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.rs"))
    plan = world.get("/fhir/CarePlan/lars-plan", headers=reader).json()
    response = world.put("/fhir/CarePlan/lars-plan", json=plan, headers={**reader, **FHIR_JSON})
    assert response.status_code == 403
    assert rule_of(response) == "smart-scope"
    assert world.get("/fhir/Patient/lars", headers=reader).status_code == 403


def test_granular_scope_limits_rows(world: TestClient, tokens: TokenFactory) -> None:
    granular = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.rs?_id=lars-plan"))
    assert ids(world.get("/fhir/CarePlan", headers=granular).json()) == ["lars-plan"]
    assert world.get("/fhir/CarePlan/gitte-plan", headers=granular).status_code == 404


# -- no post-filtering: filtered pages are full pages ------------------------------------


def test_pages_under_filters_are_full_pages(world: TestClient, tokens: TokenFactory) -> None:
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    for i in range(12):
        for headers, patient in ((hospital, "lars"), (odder, "einer")):
            plan = {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": f"Patient/{patient}"},
                "description": str(i),
            }
            assert (
                world.post(
                    "/fhir/CarePlan", json=plan, headers={**headers, **FHIR_JSON}
                ).status_code
                == 201
            )
    first = world.get("/fhir/CarePlan", params={"_count": 5}, headers=odder).json()
    assert len(first["entry"]) == 5
    seen = ids(first)
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while next_url:
        page = world.get(next_url.replace("http://testserver", ""), headers=odder).json()
        entries = page.get("entry", [])
        seen += ids(page)
        next_url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if next_url:
            assert len(entries) == 5
    # Its 12 new plans for Einer made Odder a treating organisation: it now also sees
    # Einer's 2 earlier plans, and never the 12 of Lars.
    assert len(seen) == 14 == len(set(seen))
    assert {"einer-other", "einer-rehab"} <= set(seen)


@pytest.mark.parametrize(
    ("today", "allowed"),
    [(date(2027, 2, 28), True), (date(2027, 3, 1), False), (date(2028, 2, 29), False)],
)
def test_a_child_born_29_february_turns_15_on_1_march(
    world: TestClient,
    tokens: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    today: date,
    allowed: bool,
) -> None:
    leap_child = {
        "resourceType": "Patient",
        "id": "leap",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "2902129996"}],
        "birthDate": "2012-02-29",
    }
    custody = {
        "resourceType": "RelatedPerson",
        "id": "kirsten-leap",
        "patient": {"reference": "Patient/leap"},
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": KIRSTEN_BERGGREN}],
        "relationship": [
            {
                "coding": [
                    {
                        "system": "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes",
                        "code": "PARAUTH",
                    }
                ]
            }
        ],
    }
    hospital = {**bearer(tokens.system()), **FHIR_JSON}
    assert world.put("/fhir/Patient/leap", json=leap_child, headers=hospital).status_code == 201
    assert (
        world.put("/fhir/RelatedPerson/kirsten-leap", json=custody, headers=hospital).status_code
        == 201
    )
    monkeypatch.setattr("app.interactions.access_setup.today_in_copenhagen", lambda: today)
    response = world.get(
        "/fhir/Patient/leap", headers=bearer(tokens.custody_parent(KIRSTEN_BERGGREN, "2902129996"))
    )
    assert (response.status_code == 200) is allowed
    if not allowed:
        assert rule_of(response) == "child-15-or-over-sundhedsloven-39a"


def test_conditional_create_criteria_never_open_someone_elses_data(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = {**bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR)), **FHIR_JSON}
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/gitte"},
    }
    response = world.post(
        "/fhir/CarePlan", json=plan, headers={**odder, "If-None-Exist": "_id=lars-plan"}
    )
    assert response.status_code == 404
    assert world.get("/fhir/CarePlan/lars-plan", headers=odder).status_code == 404
    assert world.get("/fhir/Patient/lars", headers=odder).status_code == 404


def _odder(tokens: TokenFactory) -> dict[str, str]:
    """The unrelated municipality's system client."""
    return {**bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR)), **FHIR_JSON}


def _lars_by_cpr() -> dict[str, Any]:
    """A Patient carrying only Lars's CPR, as an EHR pushes it."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": LARS_BERGGREN}],
    }


def test_conditional_update_of_a_hidden_match_is_refused_not_duplicated(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = _odder(tokens)
    patient = _lars_by_cpr()
    response = world.put(
        f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}",
        json=patient,
        headers=odder,
    )
    assert response.status_code == 404
    hospital = bearer(tokens.system())
    found = world.get(
        "/fhir/Patient",
        params={"identifier": f"urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}"},
        headers=hospital,
    )
    assert found.json()["total"] == 1


def test_pushing_a_patient_by_cpr_claims_the_existing_patient(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = _odder(tokens)
    patient = _lars_by_cpr()
    criteria = f"identifier=urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}"
    response = world.post(
        "/fhir/Patient", json=patient, headers={**odder, "If-None-Exist": criteria}
    )
    assert response.status_code == 200
    assert response.json()["id"] == "lars"
