"""The auditor's findings (issue #13), each as the attack that tries to get around a rule.

A registered organisation with a write scope but no relation to the Berggren children
(`ATTACKER_SOR`) tries to open them by writing, by conditional operations, inside
Bundles; a custody holder tries to reach what a clinician hid; tokens try to use a
scope for an interaction it does not grant. Each test fails if its rule is removed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.access.world import (
    CONTACT_FEED_SOR,
    EINER,
    FHIR_JSON,
    HIDDEN_LABEL,
    RELATIONSHIP,
    ids,
    rule_of,
)
from tests.support.resources import CPR_SYSTEM, unique_cpr
from tests.support.resources import SOR_SYSTEM as SOR
from tests.support.tokens import (
    GITTE_BERGGREN,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
    TokenFactory,
    bearer,
)

ATTACKER_SOR = "100000000000999"  # registered, write scope, treats none of these patients
LARS_CPR = f"{CPR_SYSTEM}|{LARS_BERGGREN}"


def attacker(tokens: TokenFactory, scopes: str = "system/*.cruds") -> dict[str, str]:
    return {**bearer(tokens.system(sor=ATTACKER_SOR, scopes=scopes)), **FHIR_JSON}


LARS_DATA = {
    "lars",
    "lars-plan",
    "lars-hidden",
    "lars-fracture",
    "lars-adjustment",
    "lars-school-goal",
}


def sees_nothing_of_lars(client: TestClient, headers: dict[str, str]) -> None:
    """Nothing of Lars that the attacker did not write itself: read, search, chain, include."""
    for path in (
        "Patient/lars",
        "CarePlan/lars-plan",
        "CarePlan/lars-hidden",
        "Goal/lars-school-goal",
    ):
        assert client.get(f"/fhir/{path}", headers=headers).status_code == 404, path
    searches: list[tuple[str, dict[str, str]]] = [
        ("CarePlan", {"subject": "Patient/lars"}),
        ("CarePlan", {"subject.identifier": LARS_CPR}),
        ("Patient", {"identifier": LARS_CPR}),
        ("Condition", {"subject": "Patient/lars"}),
        ("Goal", {"subject": "Patient/lars", "_include": "Goal:subject"}),
        ("Patient", {"_id": "lars", "_revinclude": "CarePlan:subject"}),
    ]
    for path, params in searches:
        bundle = client.get(f"/fhir/{path}", params=params, headers=headers).json()
        assert not LARS_DATA & set(ids(bundle)), (path, params, bundle)
    for history in ("/fhir/CarePlan/_history", "/fhir/_history"):
        text = client.get(history, headers=headers).text
        assert not any(f'"{rid}"' in text for rid in LARS_DATA), history


def goal_for_lars() -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Attack"},
        "subject": {"reference": "Patient/lars"},
    }


# -- 1. a write never opens the patient ---------------------------------------------------


def test_pushing_a_goal_opens_nothing(world: TestClient, tokens: TokenFactory) -> None:
    headers = attacker(tokens)
    created = world.post("/fhir/Goal", json=goal_for_lars(), headers=headers)
    assert created.status_code == 201
    assert world.get(f"/fhir/Goal/{created.json()['id']}", headers=headers).status_code == 200
    sees_nothing_of_lars(world, headers)


def test_conditionally_creating_the_patient_opens_nothing(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = attacker(tokens)
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": CPR_SYSTEM, "value": LARS_BERGGREN}],
    }
    response = world.post(
        "/fhir/Patient",
        json=patient,
        headers={**headers, "If-None-Exist": f"identifier={LARS_CPR}"},
    )
    assert response.status_code == 200
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "Berggren" not in response.text and "2015" not in response.text
    sees_nothing_of_lars(world, headers)


def test_referencing_the_patient_by_cpr_in_a_transaction_opens_nothing(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = attacker(tokens)
    goal = {**goal_for_lars(), "subject": {"reference": f"Patient?identifier={LARS_CPR}"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": goal, "request": {"method": "POST", "url": "Goal"}}],
    }
    response = world.post("/fhir", json=bundle, headers=headers)
    assert response.status_code == 200, response.text
    sees_nothing_of_lars(world, headers)


def test_a_writer_cannot_overwrite_the_hidden_plan_it_cannot_see(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = attacker(tokens)
    world.post("/fhir/Goal", json=goal_for_lars(), headers=headers)
    forged = {
        "resourceType": "CarePlan",
        "id": "lars-hidden",
        "status": "revoked",
        "intent": "plan",
        "subject": {"reference": "Patient/lars"},
    }
    assert world.put("/fhir/CarePlan/lars-hidden", json=forged, headers=headers).status_code == 404
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    plan = world.get("/fhir/CarePlan/lars-hidden", headers=hospital).json()
    assert plan["status"] == "active" and plan["meta"]["versionId"] == "1"


def test_naming_an_accomplice_shares_only_what_the_author_may_see(
    world: TestClient, tokens: TokenFactory
) -> None:
    # The attacker writes a plan for Lars that names an accomplice as a party and points
    # at Lars' record and diagnosis: the accomplice gets the attacker's plan, nothing else.
    accomplice_sor = "100000000000998"
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/lars"},
        "addresses": [{"reference": "Condition/lars-fracture"}],
        "goal": [{"reference": "Goal/lars-school-goal"}],
        "contained": [
            {
                "resourceType": "CareTeam",
                "id": "team",
                "participant": [
                    {"member": {"identifier": {"system": SOR, "value": accomplice_sor}}},
                    {"member": {"identifier": {"system": SOR, "value": ATTACKER_SOR}}},
                ],
            }
        ],
        "careTeam": [{"reference": "#team"}],
    }
    created = world.post("/fhir/CarePlan", json=plan, headers=attacker(tokens))
    assert created.status_code == 201
    accomplice = attacker(tokens) | bearer(tokens.system(sor=accomplice_sor))
    assert (
        world.get(f"/fhir/CarePlan/{created.json()['id']}", headers=accomplice).status_code == 200
    )
    sees_nothing_of_lars(world, accomplice)
    sees_nothing_of_lars(world, attacker(tokens))


def test_what_a_plan_shares_follows_its_authors_relation_when_read(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = {
        **bearer(tokens.professional(sor=MUNICIPALITY_SOR)),
        "X-Consent-Override": quote("Akut"),
    }
    assert world.get("/fhir/Patient/einer", headers=horsens).status_code == 200
    feed = {
        **bearer(tokens.system(sor=CONTACT_FEED_SOR)),
        "Content-Type": "application/json-patch+json",
    }
    ended = world.patch(
        "/fhir/EpisodeOfCare/contact-einer",
        json=[{"op": "replace", "path": "/status", "value": "finished"}],
        headers=feed,
    )
    assert ended.status_code == 200
    # The hospital no longer treats Einer, so its plan no longer opens his record...
    assert world.get("/fhir/Patient/einer", headers=horsens).status_code == 404
    # ...but the plan it wrote is its own, and still shared with the party it names.
    assert world.get("/fhir/CarePlan/einer-rehab", headers=horsens).status_code == 200


# -- 2. only the author changes a resource ---------------------------------------------------


def test_a_named_party_may_read_but_never_change_the_authors_plan(
    world: TestClient, tokens: TokenFactory
) -> None:
    # Horsens Kommune is named in einer-rehab (with an override it sees it despite the
    # opt-out); it is not the author.
    horsens = {
        **bearer(tokens.professional(sor=MUNICIPALITY_SOR)),
        **FHIR_JSON,
        "X-Consent-Override": quote("Akut"),
    }
    plan = world.get("/fhir/CarePlan/einer-rehab", headers=horsens)
    assert plan.status_code == 200
    changed = {**plan.json(), "status": "revoked"}
    put = world.put("/fhir/CarePlan/einer-rehab", json=changed, headers=horsens)
    assert put.status_code == 403 and rule_of(put) == "only-the-author-changes-a-resource"
    patch = world.patch(
        "/fhir/CarePlan/einer-rehab",
        json=[{"op": "replace", "path": "/status", "value": "revoked"}],
        headers={**horsens, "Content-Type": "application/json-patch+json"},
    )
    assert patch.status_code == 403 and rule_of(patch) == "only-the-author-changes-a-resource"
    delete = world.delete("/fhir/CarePlan/einer-rehab", headers=horsens)
    assert delete.status_code == 403
    after = world.get("/fhir/CarePlan/einer-rehab", headers=horsens).json()
    assert after["status"] == "active" and after["meta"]["versionId"] == "1"


def test_a_treating_organisation_may_read_but_never_change_anothers_patient_record(
    world: TestClient, tokens: TokenFactory
) -> None:
    # The hospital has a contact with Lars (a relation): it reads the registry's Patient,
    # and may not change it.
    hospital = {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}
    lars = world.get("/fhir/Patient/lars", headers=hospital)
    assert lars.status_code == 200
    response = world.put(
        "/fhir/Patient/lars", json={**lars.json(), "gender": "female"}, headers=hospital
    )
    assert response.status_code == 403
    assert world.get("/fhir/Patient/lars", headers=hospital).json()["meta"]["versionId"] == "1"


def test_a_transaction_cannot_change_what_its_writer_did_not_author(
    world: TestClient, tokens: TokenFactory
) -> None:
    hospital = {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}
    lars = world.get("/fhir/Patient/lars", headers=hospital).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": goal_for_lars(), "request": {"method": "POST", "url": "Goal"}},
            {
                "resource": {**lars, "gender": "female"},
                "request": {"method": "PUT", "url": "Patient/lars"},
            },
        ],
    }
    response = world.post("/fhir", json=bundle, headers=hospital)
    assert response.status_code == 403
    goals = world.get("/fhir/Goal", params={"subject": "Patient/lars"}, headers=hospital).json()
    assert ids(goals) == ["lars-school-goal"]  # nothing of the transaction was written


# -- 3. custody from the authority only ---------------------------------------------------


def _parauth(parent_cpr: str) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "patient": {"reference": "Patient/lars"},
        "identifier": [{"system": CPR_SYSTEM, "value": parent_cpr}],
        "relationship": [{"coding": [{"system": RELATIONSHIP, "code": "PARAUTH"}]}],
    }


def test_custody_cannot_be_forged_by_a_writer(world: TestClient, tokens: TokenFactory) -> None:
    forger = "3103979995"  # Anders Jensen: father without custody in this world
    for headers in (attacker(tokens), {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}):
        response = world.post("/fhir/RelatedPerson", json=_parauth(forger), headers=headers)
        assert response.status_code == 403
        assert rule_of(response) == "custody-recorded-by-custody-authority"
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": _parauth(forger),
                    "request": {"method": "POST", "url": "RelatedPerson"},
                }
            ],
        }
        assert world.post("/fhir", json=bundle, headers=headers).status_code == 403
    father = bearer(tokens.custody_parent(forger, LARS_BERGGREN))
    refused = world.get("/fhir/CarePlan", headers=father)
    assert refused.status_code == 403 and rule_of(refused) == "no-verified-custody"


def test_custody_records_not_written_by_the_authority_never_count(
    world: TestClient, tokens: TokenFactory, settings: Any
) -> None:
    from app.loader import LOADER
    from tests.access.world import Writes, load_writes

    forger = "3103979995"
    load_writes(settings, Writes(LOADER, [{**_parauth(forger), "id": "operator-parauth"}]))
    father = bearer(tokens.custody_parent(forger, LARS_BERGGREN))
    assert world.get("/fhir/CarePlan", headers=father).status_code == 403


def test_an_existing_custody_record_cannot_be_turned_to_another_parent(
    world: TestClient, tokens: TokenFactory
) -> None:
    hospital = {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}
    record = world.get("/fhir/RelatedPerson/kirsten-lars", headers=hospital)
    assert record.status_code == 200
    turned = {**record.json(), "identifier": [{"system": CPR_SYSTEM, "value": "3103979995"}]}
    assert (
        world.put("/fhir/RelatedPerson/kirsten-lars", json=turned, headers=hospital).status_code
        == 403
    )


# -- 4. conditional writes reveal nothing the caller cannot see -----------------------


def _answers(response: Any) -> tuple[int, str]:
    """What a caller learns: status and body, with any request id taken out."""
    return response.status_code, response.text.replace(
        response.headers.get("X-Request-Id", "-"), ""
    )


def test_conditional_delete_of_a_stored_and_an_unused_cpr_answer_alike(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = attacker(tokens)
    stored = world.delete(f"/fhir/Patient?identifier={LARS_CPR}", headers=headers)
    unused = world.delete(f"/fhir/Patient?identifier={CPR_SYSTEM}|{unique_cpr()}", headers=headers)
    assert _answers(stored) == _answers(unused) and stored.status_code == 204
    assert "lars" not in str(stored.headers).lower()
    plans = world.delete(f"/fhir/CarePlan?subject.identifier={LARS_CPR}", headers=headers)
    none = world.delete(
        f"/fhir/CarePlan?subject.identifier={CPR_SYSTEM}|{unique_cpr()}", headers=headers
    )
    assert _answers(plans) == _answers(none)
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    assert world.get("/fhir/Patient/lars", headers=hospital).status_code == 200
    assert world.get("/fhir/CarePlan/lars-hidden", headers=hospital).status_code == 200


def test_conditional_patch_of_a_stored_and_an_unused_cpr_answer_alike(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = {**attacker(tokens), "Content-Type": "application/json-patch+json"}
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    stored = world.patch(f"/fhir/Patient?identifier={LARS_CPR}", json=ops, headers=headers)
    unused = world.patch(
        f"/fhir/Patient?identifier={CPR_SYSTEM}|{unique_cpr()}", json=ops, headers=headers
    )
    assert _answers(stored) == _answers(unused) and stored.status_code == 404
    assert "lars" not in stored.text


def test_conditional_update_never_names_the_hidden_match(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = attacker(tokens)
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/lars"},
    }
    response = world.put("/fhir/CarePlan?_id=lars-hidden", json=plan, headers=headers)
    # No visible match: a new plan of the attacker's own, never the hidden one's id.
    assert response.status_code == 201 and response.json()["id"] != "lars-hidden"
    assert "lars-hidden" not in response.text and "lars-hidden" not in str(response.headers)


def test_a_citizen_cannot_probe_another_citizens_opt_out(
    world: TestClient, tokens: TokenFactory
) -> None:
    gitte = bearer(tokens.citizen(cpr=GITTE_BERGGREN, scopes="patient/*.rs patient/Consent.cud"))
    einers = world.delete(f"/fhir/Consent?patient.identifier={CPR_SYSTEM}|{EINER}", headers=gitte)
    nobodys = world.delete(
        f"/fhir/Consent?patient.identifier={CPR_SYSTEM}|{unique_cpr()}", headers=gitte
    )
    assert _answers(einers) == _answers(nobodys)
    einer = bearer(tokens.citizen(cpr=EINER))
    assert world.get("/fhir/Consent/einer-optout", headers=einer).json()["status"] == "active"


# -- 5. hidden means hidden (§37 stk. 2) ---------------------------------------------


def test_what_only_the_hidden_plan_leads_to_is_hidden_from_the_custody_holder(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert world.get("/fhir/Condition/lars-adjustment", headers=parent).status_code == 404
    assert world.get("/fhir/Goal/lars-school-goal", headers=parent).status_code == 404
    # Also addressed by the visible plan: stays visible.
    assert world.get("/fhir/Condition/lars-fracture", headers=parent).status_code == 200
    conditions = world.get("/fhir/Condition", headers=parent).json()
    assert ids(conditions) == ["lars-fracture"] and conditions["total"] == 1
    assert (
        world.get("/fhir/Goal", params={"_summary": "count"}, headers=parent).json()["total"] == 0
    )
    included = world.get(
        "/fhir/CarePlan", params={"_include": "CarePlan:condition"}, headers=parent
    ).json()
    assert ids(included) == ["lars-fracture", "lars-plan"]
    chained = world.get(
        "/fhir/Condition", params={"_has:CarePlan:condition:status": "active"}, headers=parent
    ).json()
    assert ids(chained) == ["lars-fracture"]
    assert "Tilpasningsreaktion" not in world.get("/fhir/Condition/_history", headers=parent).text


def test_the_child_and_the_clinician_still_see_what_the_hidden_plan_leads_to(
    world: TestClient, tokens: TokenFactory
) -> None:
    for headers in (
        bearer(tokens.citizen(cpr=LARS_BERGGREN)),
        bearer(tokens.professional(sor=HOSPITAL_SOR)),
    ):
        assert world.get("/fhir/Condition/lars-adjustment", headers=headers).status_code == 200
        assert world.get("/fhir/Goal/lars-school-goal", headers=headers).status_code == 200


def _minlog(world: TestClient, headers: dict[str, str]) -> str:
    response = world.get("/fhir/AuditEvent", params={"patient": "Patient/lars"}, headers=headers)
    assert response.status_code == 200
    return response.text


def test_audit_records_naming_a_hidden_resource_are_absent_from_the_custody_holders_log(
    world: TestClient, tokens: TokenFactory
) -> None:
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    assert world.get("/fhir/CarePlan/lars-hidden", headers=clinician).status_code == 200
    assert world.get("/fhir/Condition/lars-adjustment", headers=clinician).status_code == 200
    assert world.get("/fhir/CarePlan/lars-plan", headers=clinician).status_code == 200
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    log = _minlog(world, parent)
    assert "lars-hidden" not in log and "lars-adjustment" not in log
    assert "CarePlan/lars-plan" in log  # the visible plan's events stay
    count = world.get(
        "/fhir/AuditEvent", params={"patient": "Patient/lars", "_summary": "count"}, headers=parent
    ).json()["total"]
    assert count == len(
        world.get("/fhir/AuditEvent", params={"_count": 1000}, headers=parent).json()["entry"]
    )
    child = _minlog(world, bearer(tokens.citizen(cpr=LARS_BERGGREN)))
    assert "CarePlan/lars-hidden" in child and "Condition/lars-adjustment" in child


def test_a_hidden_label_added_later_hides_what_the_plan_leads_to(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert world.get("/fhir/Condition/lars-fracture", headers=parent).status_code == 200
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    patch = world.patch(
        "/fhir/CarePlan/lars-plan",
        json=[{"op": "add", "path": "/meta/security", "value": [HIDDEN_LABEL]}],
        headers={**hospital, "Content-Type": "application/json-patch+json"},
    )
    assert patch.status_code == 200
    assert world.get("/fhir/Condition/lars-fracture", headers=parent).status_code == 404


# -- 6. scopes per interaction -------------------------------------------------------------


def test_a_search_needs_s_also_inside_a_transaction_or_a_batch(
    world: TestClient, tokens: TokenFactory
) -> None:
    reader = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.r system/Patient.r"))
    direct = world.get("/fhir/CarePlan", params={"subject": "Patient/lars"}, headers=reader)
    assert direct.status_code == 403 and rule_of(direct) == "smart-scope"
    entry = {"request": {"method": "GET", "url": "CarePlan?subject=Patient/lars"}}
    transaction = world.post(
        "/fhir",
        json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]},
        headers={**reader, **FHIR_JSON},
    )
    assert transaction.status_code == 403 and "lars-plan" not in transaction.text
    batch = world.post(
        "/fhir",
        json={"resourceType": "Bundle", "type": "batch", "entry": [entry]},
        headers={**reader, **FHIR_JSON},
    )
    assert batch.status_code == 200
    assert batch.json()["entry"][0]["response"]["status"].startswith("403")
    assert "lars-plan" not in batch.text
    # A read entry is a read: `r` is enough.
    read = {"request": {"method": "GET", "url": "CarePlan/lars-plan"}}
    ok = world.post(
        "/fhir",
        json={"resourceType": "Bundle", "type": "batch", "entry": [read]},
        headers={**reader, **FHIR_JSON},
    )
    assert ok.json()["entry"][0]["response"]["status"].startswith("200")


def test_type_and_system_history_need_s_and_instance_history_r(
    world: TestClient, tokens: TokenFactory
) -> None:
    reader = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.r"))
    searcher = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.s"))
    assert world.get("/fhir/CarePlan/_history", headers=reader).status_code == 403
    assert world.get("/fhir/CarePlan/_history", headers=searcher).status_code == 200
    assert world.get("/fhir/CarePlan/lars-plan/_history", headers=reader).status_code == 200
    assert world.get("/fhir/CarePlan/lars-plan/_history", headers=searcher).status_code == 403
    system = world.get("/fhir/_history", headers=reader).json()
    assert "lars-plan" not in str(system)
    assert "lars-plan" in str(world.get("/fhir/_history", headers=searcher).json())


def test_a_granular_scope_on_a_reference_limits_writes_like_reads(
    world: TestClient, tokens: TokenFactory
) -> None:
    scoped = {
        **bearer(
            tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.cru?subject=Patient/lars")
        ),
        **FHIR_JSON,
    }
    plan = world.get("/fhir/CarePlan/lars-plan", headers=scoped)
    assert plan.status_code == 200
    updated = world.put(
        "/fhir/CarePlan/lars-plan", json={**plan.json(), "description": "Ny"}, headers=scoped
    )
    assert updated.status_code == 200
    new = {"resourceType": "CarePlan", "status": "active", "intent": "plan"}
    for_lars = {**new, "subject": {"reference": "Patient/lars"}}
    assert world.post("/fhir/CarePlan", json=for_lars, headers=scoped).status_code == 201
    for_gitte = {**new, "subject": {"reference": "Patient/gitte"}, "description": "Gitte"}
    refused = world.post("/fhir/CarePlan", json=for_gitte, headers=scoped)
    assert refused.status_code == 403 and rule_of(refused) == "smart-scope"
    assert world.get("/fhir/CarePlan/gitte-plan", headers=scoped).status_code == 404
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    gitte = world.get(
        "/fhir/CarePlan", params={"subject": "Patient/gitte"}, headers=hospital
    ).json()
    assert ids(gitte) == ["gitte-plan"]  # the refused create left nothing behind


# -- 7. fail closed by construction ---------------------------------------------------------


def test_a_vread_refusal_is_audited_like_a_read_refusal(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert world.get("/fhir/CarePlan/lars-hidden/_history/1", headers=parent).status_code == 404
    child = bearer(tokens.citizen(cpr=LARS_BERGGREN))
    log = world.get("/fhir/AuditEvent", params={"patient": "Patient/lars"}, headers=child).json()
    refusals = [
        e["resource"]
        for e in log["entry"]
        if e["resource"]["outcome"] == "4" and e["resource"]["subtype"][0]["code"] == "vread"
    ]
    assert refusals and any(
        a["who"].get("identifier", {}).get("value") == KIRSTEN_BERGGREN
        for a in refusals[0]["agent"]
    )
