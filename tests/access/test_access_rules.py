"""The access rules, rule by rule, on SQLite and PostgreSQL (docs/authorization.md).

Each test names the rule it guards; removing the rule makes it fail.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.access.world import (
    ANDERS_JENSEN,
    EINER,
    FHIR_JSON,
    JUST_15_CPR,
    NEARLY_15_CPR,
    OTHER_MUNICIPALITY_SOR,
    REGISTRY_SOR,
    ids,
    rule_of,
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


def test_a_named_party_sees_the_plan_it_is_named_in_and_nothing_else_of_the_patient(
    world: TestClient, tokens: TokenFactory
) -> None:
    # Horsens Kommune is in the care team of Einer's rehabilitation plan, but Einer
    # opted out of sharing with it: with an override it sees that plan and its patient,
    # not the hospital's other plan nor its diagnosis (naming shares one plan, §42a).
    horsens = bearer(tokens.professional(sor=MUNICIPALITY_SOR))
    override = {**horsens, "X-Consent-Override": quote("Akut indlæggelse")}
    response = world.get("/fhir/CarePlan", params={"subject": "Patient/einer"}, headers=override)
    assert ids(response.json()) == ["einer-rehab"]
    assert world.get("/fhir/Patient/einer", headers=override).status_code == 200
    assert world.get("/fhir/CarePlan/einer-other", headers=override).status_code == 404
    assert world.get("/fhir/Condition/einer-kol", headers=override).status_code == 404
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


def test_writing_for_a_patient_opens_nothing_but_what_it_wrote(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/gitte"},
    }
    created = world.post("/fhir/CarePlan", json=plan, headers={**odder, **FHIR_JSON})
    assert created.status_code == 201
    seen = world.get("/fhir/CarePlan", params={"subject": "Patient/gitte"}, headers=odder).json()
    assert ids(seen) == [created.json()["id"]]
    assert world.get("/fhir/CarePlan/gitte-plan", headers=odder).status_code == 404
    assert world.get("/fhir/Patient/gitte", headers=odder).status_code == 404


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
    # Writing 12 plans for Einer opens nothing else of his (no relation from writing):
    # Odder sees exactly its own 12, never the hospital's plans for him or for Lars.
    assert len(seen) == 12 == len(set(seen))
    assert not {"einer-other", "einer-rehab"} & set(seen)


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
    registry = {**bearer(tokens.system(sor=REGISTRY_SOR)), **FHIR_JSON}
    assert world.put("/fhir/Patient/leap", json=leap_child, headers=registry).status_code == 201
    assert (
        world.put("/fhir/RelatedPerson/kirsten-leap", json=custody, headers=registry).status_code
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
    # A match the caller may not see is no match: a new plan of Odder's own.
    assert response.status_code == 201
    assert response.json()["id"] != "lars-plan" and "lars-plan" not in response.text
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


def test_conditional_update_by_an_invisible_cpr_is_refused_not_duplicated(
    world: TestClient, tokens: TokenFactory
) -> None:
    response = world.put(
        f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}",
        json=_lars_by_cpr(),
        headers=_odder(tokens),
    )
    # No visible match, so it would create; one Patient per CPR refuses that (409),
    # pointing to conditional create, and names no id.
    assert response.status_code == 409
    assert "If-None-Exist" in response.text and "lars" not in response.text
    hospital = bearer(tokens.system())
    found = world.get(
        "/fhir/Patient",
        params={"identifier": f"urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}"},
        headers=hospital,
    )
    assert found.json()["total"] == 1


def test_pushing_a_patient_by_cpr_answers_its_id_and_no_content(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = _odder(tokens)
    criteria = f"identifier=urn:oid:1.2.208.176.1.2|{LARS_BERGGREN}"
    response = world.post(
        "/fhir/Patient", json=_lars_by_cpr(), headers={**odder, "If-None-Exist": criteria}
    )
    assert response.status_code == 200
    assert response.headers["Location"] == "http://testserver/fhir/Patient/lars"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "Lars" not in response.text and "birthDate" not in response.text
    assert "ETag" not in response.headers
    # Knowing the id opens nothing.
    assert world.get("/fhir/Patient/lars", headers=odder).status_code == 404
    plans = world.get("/fhir/CarePlan", params={"subject": "Patient/lars"}, headers=odder)
    assert plans.json()["total"] == 0
    # The lookup is in Lars's MinLog, naming Odder.
    log = world.get(
        "/fhir/AuditEvent",
        params={"patient": "Patient/lars"},
        headers=bearer(tokens.citizen(cpr=LARS_BERGGREN)),
    ).json()
    assert any(
        a["who"].get("identifier", {}).get("value") == OTHER_MUNICIPALITY_SOR
        and e["resource"]["subtype"][0]["code"] == "create"
        for e in log["entry"]
        for a in e["resource"]["agent"]
    )
