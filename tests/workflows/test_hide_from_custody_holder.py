"""A clinician hides a child's plan from the custody holder (sundhedsloven §37 stk. 2).

The custody parent (forældremyndighedsindehaver, PARAUTH) sees the child's plans while
the child is under 15 (§39a); once a clinician labels a plan hidden-from-custody-holder
in meta.security, the parent no longer finds, counts or reads it. The clinician does.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from app.demo.families import CUSTODY, custody_resource, patient_entry
from app.demo.organisations import CPR_REGISTRY, PSYKIATRIEN
from app.demo.plan_bundle import plan_bundle
from app.demo.plans import LARS_HIDDEN, LARS_REHAB
from tests.support.tokens import KIRSTEN_BERGGREN, LARS_BERGGREN, NIELS_VENDELBOE, TokenFactory
from tests.workflows.conftest import ClientFor, entries, location_id, total

HIDDEN = {
    "system": "http://esp-careplans.dk/fhir/CodeSystem/security-label",
    "code": "hidden-from-custody-holder",
}


def _record_custody(registry: TestClient) -> None:
    """Kirsten's custody of Lars as the CPR registry feed records it, in one transaction."""
    lars = patient_entry("LarsBerggren")
    custody = next(c for c in CUSTODY if c.child == "LarsBerggren")
    related = custody_resource(custody)
    related["patient"] = {"reference": lars["fullUrl"]}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            lars,
            {"resource": related, "request": {"method": "POST", "url": "RelatedPerson"}},
        ],
    }
    response = registry.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text


def _push_plans(hospital: TestClient) -> tuple[str, str]:
    """Lars's rehabilitation plan and his (not yet hidden) coordination plan: their ids."""
    ids = []
    for spec in (LARS_REHAB, replace(LARS_HIDDEN, hidden_from_custody_holder=False)):
        response = hospital.post("/fhir", json=plan_bundle(spec))
        assert response.status_code == 200, response.text
        ids.append(location_id(response.json()["entry"][-1]))
    return ids[0], ids[1]


def test_hidden_plan_disappears_for_the_custody_parent_only(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    hospital = client_for(tokens.system(sor=PSYKIATRIEN.sor, scopes="system/*.cruds"))
    _record_custody(client_for(tokens.system(sor=CPR_REGISTRY.sor)))
    rehab_id, coordination_id = _push_plans(hospital)
    parent = client_for(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    clinician = client_for(tokens.professional(NIELS_VENDELBOE, PSYKIATRIEN.sor))

    before = parent.get("/fhir/CarePlan").json()
    assert sorted(p["id"] for p in entries(before)) == sorted([rehab_id, coordination_id])
    assert parent.get(f"/fhir/CarePlan/{coordination_id}").status_code == 200

    patch = clinician.patch(
        f"/fhir/CarePlan/{coordination_id}",
        json=[{"op": "add", "path": "/meta/security", "value": [HIDDEN]}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    assert HIDDEN["code"] in [s["code"] for s in patch.json()["meta"]["security"]]
    assert patch.json()["meta"]["versionId"] == "2"

    after = parent.get("/fhir/CarePlan")
    assert after.status_code == 200
    assert [p["id"] for p in entries(after.json())] == [rehab_id]
    assert after.json()["total"] == 1
    assert total(parent, "CarePlan") == 1
    assert total(parent, f"CarePlan?_id={coordination_id}") == 0
    assert parent.get(f"/fhir/CarePlan/{coordination_id}").status_code == 404
    # Not through an include from the child's record either.
    via_patient = parent.get("/fhir/Patient", params={"_revinclude": "CarePlan:subject"}).json()
    assert coordination_id not in [r["id"] for r in entries(via_patient, "include")]

    assert clinician.get(f"/fhir/CarePlan/{coordination_id}").status_code == 200
    assert total(clinician, "CarePlan") == 2


def test_adding_to_an_existing_security_list_hides_too(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    """JSON Patch `add` to `/meta/security/-` when the plan already carries a label."""
    hospital = client_for(tokens.system(sor=PSYKIATRIEN.sor, scopes="system/*.cruds"))
    _record_custody(client_for(tokens.system(sor=CPR_REGISTRY.sor)))
    _, coordination_id = _push_plans(hospital)
    clinician = client_for(tokens.professional(NIELS_VENDELBOE, PSYKIATRIEN.sor))
    url = f"/fhir/CarePlan/{coordination_id}"
    normal = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
    for op in (
        {"op": "add", "path": "/meta/security", "value": [normal]},
        {"op": "add", "path": "/meta/security/-", "value": HIDDEN},
    ):
        response = clinician.patch(
            url, json=[op], headers={"Content-Type": "application/json-patch+json"}
        )
        assert response.status_code == 200, response.text
    parent = client_for(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert parent.get(url).status_code == 404
    assert total(parent, "CarePlan") == 1


def test_older_versions_of_a_hidden_plan_stay_hidden(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    """Version 1 was written before the label; the label of the plan now decides."""
    hospital = client_for(tokens.system(sor=PSYKIATRIEN.sor, scopes="system/*.cruds"))
    _record_custody(client_for(tokens.system(sor=CPR_REGISTRY.sor)))
    _, coordination_id = _push_plans(hospital)
    clinician = client_for(tokens.professional(NIELS_VENDELBOE, PSYKIATRIEN.sor))
    url = f"/fhir/CarePlan/{coordination_id}"
    response = clinician.patch(
        url,
        json=[{"op": "add", "path": "/meta/security", "value": [HIDDEN]}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    parent = client_for(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert parent.get(f"{url}/_history/1").status_code == 404
    history = parent.get(f"{url}/_history")
    assert history.status_code == 404 or history.json().get("entry", []) == []
