"""Provenance of every version (issue #15 part 3): written by the server with each write,
readable exactly where its target is.

Each write kind (create, update, patch, delete, conditional ones, transaction and batch
entries) leaves one Provenance naming the version, the agents and the activity; the
custody holder, an unrelated municipality and an organisation the citizen opted out of
see no Provenance of what they may not see, by any path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from app.access.principal import Principal
from app.audit.agents import AUTHORIZATION_ID_SYSTEM
from app.audit.provenance import provenance
from app.fhir.validation import require_valid
from app.storage.records import StoredResource
from tests.access.world import (
    FHIR_JSON,
    HIDDEN_LABEL,
    JUST_15_CPR,
    OTHER_MUNICIPALITY_SOR,
)
from tests.support.resources import CPR_SYSTEM, SOR_SYSTEM, careplan
from tests.support.tokens import (
    AUTHORIZATION_ID,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
    NIELS_VENDELBOE,
    TokenFactory,
    bearer,
)

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


def provenances(client: TestClient, headers: dict[str, str], target: str) -> list[dict[str, Any]]:
    """The Provenances of `target` the caller may see, oldest first."""
    response = client.get(
        "/fhir/Provenance", params={"target": target, "_sort": "recorded"}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


def activity(prov: dict[str, Any]) -> str:
    coding = prov["activity"]["coding"][0]
    assert coding["system"] == DATA_OPERATION
    return str(coding["code"])


def targets(provs: list[dict[str, Any]]) -> list[str]:
    return [p["target"][0]["reference"] for p in provs]


def hospital(tokens: TokenFactory) -> dict[str, str]:
    return {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}


# -- every write kind leaves a Provenance ---------------------------------------------------


def test_create_update_patch_delete_each_leave_the_provenance_of_their_version(
    world: TestClient, tokens: TokenFactory
) -> None:
    clinician = {**bearer(tokens.professional(sor=HOSPITAL_SOR)), **FHIR_JSON}
    created = world.post("/fhir/CarePlan", json=careplan("Patient/lars"), headers=clinician)
    assert created.status_code == 201
    plan = created.json()
    pid = plan["id"]
    updated = world.put(
        f"/fhir/CarePlan/{pid}", json={**plan, "status": "on-hold"}, headers=clinician
    )
    assert updated.status_code == 200
    patched = world.patch(
        f"/fhir/CarePlan/{pid}",
        json=[{"op": "replace", "path": "/status", "value": "active"}],
        headers={**clinician, **PATCH_JSON},
    )
    assert patched.status_code == 200
    assert world.delete(f"/fhir/CarePlan/{pid}", headers=clinician).status_code == 204

    provs = provenances(world, clinician, f"CarePlan/{pid}")
    assert targets(provs) == [f"CarePlan/{pid}/_history/{v}" for v in (1, 2, 3, 4)]
    assert [activity(p) for p in provs] == ["CREATE", "UPDATE", "UPDATE", "DELETE"]
    assert provs[0]["recorded"] == plan["meta"]["lastUpdated"]
    assert provs[2]["recorded"] == patched.json()["meta"]["lastUpdated"]
    org, person, client = provs[0]["agent"]
    sor = {"system": SOR_SYSTEM, "value": HOSPITAL_SOR}
    assert org["type"]["coding"][0]["code"] == "author"
    assert org["who"]["identifier"] == sor
    assert org["who"]["display"] == "Regionshospitalet Horsens"
    assert person["who"]["identifier"] == {
        "system": AUTHORIZATION_ID_SYSTEM,
        "value": AUTHORIZATION_ID,
    }
    assert person["onBehalfOf"]["identifier"] == sor
    assert client["type"]["coding"][0]["code"] == "enterer"
    assert client["onBehalfOf"] == person["who"]
    assert NIELS_VENDELBOE not in str(provs)  # the professional by autorisations-id only
    # The Provenance joins the target's patient compartment (for the audit and $everything).
    by_patient = world.get(
        "/fhir/Provenance", params={"target": f"CarePlan/{pid}"}, headers=clinician
    ).json()
    assert by_patient["total"] == 4


def test_a_professional_without_autorisations_id_is_named_by_cpr(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = {
        **bearer(tokens.professional(sor=HOSPITAL_SOR, authorization_id=None)),
        **FHIR_JSON,
    }
    pid = world.post("/fhir/CarePlan", json=careplan("Patient/lars"), headers=headers).json()["id"]
    (prov,) = provenances(world, headers, f"CarePlan/{pid}")
    assert prov["agent"][1]["who"]["identifier"] == {
        "system": CPR_SYSTEM,
        "value": NIELS_VENDELBOE,
    }


def test_conditional_writes_leave_a_provenance_only_when_they_write(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = hospital(tokens)
    plan = careplan("Patient/lars", identifier=[{"system": "urn:test", "value": "c1"}])
    condition = {"If-None-Exist": "identifier=urn:test|c1"}
    first = world.post("/fhir/CarePlan", json=plan, headers={**headers, **condition})
    again = world.post("/fhir/CarePlan", json=plan, headers={**headers, **condition})
    assert (first.status_code, again.status_code) == (201, 200)
    pid = first.json()["id"]
    put = world.put(
        "/fhir/CarePlan",
        params={"identifier": "urn:test|c1"},
        json={**plan, "status": "completed"},
        headers=headers,
    )
    assert put.status_code == 200
    patched = world.patch(
        "/fhir/CarePlan",
        params={"identifier": "urn:test|c1"},
        json=[{"op": "replace", "path": "/status", "value": "active"}],
        headers={**headers, **PATCH_JSON},
    )
    assert patched.status_code == 200
    deleted = world.delete("/fhir/CarePlan", params={"identifier": "urn:test|c1"}, headers=headers)
    assert deleted.status_code == 204
    provs = provenances(world, headers, f"CarePlan/{pid}")
    assert [activity(p) for p in provs] == ["CREATE", "UPDATE", "UPDATE", "DELETE"]
    system_agents = provs[0]["agent"]
    assert [a["type"]["coding"][0]["code"] for a in system_agents] == ["author", "enterer"]
    assert system_agents[1]["onBehalfOf"]["identifier"]["value"] == HOSPITAL_SOR


def _bundle(kind: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": f"urn:uuid:0000000{i}-0000-4000-8000-000000000000",
                "resource": careplan("Patient/lars", description=f"{kind} {i}"),
                "request": {"method": "POST", "url": "CarePlan"},
            }
            for i in (1, 2)
        ]
        + [
            {
                "resource": {
                    **careplan("Patient/lars"),
                    "id": f"{kind}-put",
                    "status": "on-hold",
                },
                "request": {"method": "PUT", "url": f"CarePlan/{kind}-put"},
            }
        ],
    }


def test_every_entry_of_a_transaction_and_of_a_batch_leaves_its_provenance(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = hospital(tokens)
    for kind in ("transaction", "batch"):
        response = world.post("/fhir", json=_bundle(kind), headers=headers)
        assert response.status_code == 200, response.text
        locations = [e["response"]["location"] for e in response.json()["entry"]]
        assert len(locations) == 3
        for location in locations:
            reference = location.removeprefix("http://testserver/fhir/")
            plan = reference.rsplit("/_history/", 1)[0]
            (prov,) = provenances(world, headers, plan)
            assert prov["target"][0]["reference"] == reference
            assert activity(prov) == "CREATE"


def test_clients_cannot_write_provenance(world: TestClient, tokens: TokenFactory) -> None:
    headers = hospital(tokens)
    forged = {
        "resourceType": "Provenance",
        "target": [{"reference": "CarePlan/lars-plan"}],
        "recorded": "2024-01-01T00:00:00Z",
        "agent": [{"who": {"reference": "Organization/odder-kommune"}}],
    }
    assert world.post("/fhir/Provenance", json=forged, headers=headers).status_code == 405
    (existing,) = provenances(world, headers, "CarePlan/lars-plan")
    url = f"/fhir/Provenance/{existing['id']}"
    assert world.put(url, json=existing, headers=headers).status_code == 405
    assert world.delete(url, headers=headers).status_code == 405
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": forged, "request": {"method": "POST", "url": "Provenance"}}],
    }
    assert world.post("/fhir", json=bundle, headers=headers).status_code == 405
    assert world.get(url, headers=headers).json() == existing  # unchanged


# -- readable exactly where the target is -------------------------------------------------


def sees_no_provenance_of(
    client: TestClient,
    tokens: TokenFactory,
    headers: dict[str, str],
    target: str,
    patient: str,
) -> None:
    """By search, read, _revinclude, _include, history and $everything."""
    owner = hospital(tokens)
    hidden = [p["id"] for p in provenances(client, owner, target)]
    assert hidden, target
    assert provenances(client, headers, target) == []
    for pid in hidden:
        assert client.get(f"/fhir/Provenance/{pid}", headers=headers).status_code == 404
        assert client.get(f"/fhir/Provenance/{pid}/_history/1", headers=headers).status_code == 404
    rtype, rid = target.split("/")
    for path, params in (
        (rtype, {"_revinclude": "Provenance:target"}),
        (rtype, {"_id": rid, "_revinclude": "Provenance:target"}),
        ("Provenance", {"_include": "Provenance:target"}),
        ("Provenance", {"patient": f"Patient/{patient}"}),
        ("Provenance", {"_count": "1000"}),
    ):
        response = client.get(f"/fhir/{path}", params=params, headers=headers)
        assert response.status_code in (200, 403), (path, params, response.text)
        text = response.text
        assert not any(pid in text for pid in hidden), (path, params)
    for history in ("/fhir/Provenance/_history", "/fhir/_history"):
        response = client.get(history, headers=headers, params={"_count": "1000"})
        assert not any(pid in response.text for pid in hidden), history
    everything = client.get(f"/fhir/Patient/{patient}/$everything", headers=headers)
    assert everything.status_code in (200, 403, 404), everything.text
    assert not any(pid in everything.text for pid in hidden)


def test_the_custody_holder_sees_no_provenance_of_the_hidden_plan_or_what_it_leads_to(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    for target in ("CarePlan/lars-hidden", "Condition/lars-adjustment", "Goal/lars-school-goal"):
        sees_no_provenance_of(world, tokens, parent, target, "lars")
    # The visible plan's Provenance stays visible to the parent, also by _revinclude.
    assert [activity(p) for p in provenances(world, parent, "CarePlan/lars-plan")] == ["CREATE"]
    bundle = world.get(
        "/fhir/CarePlan", params={"_revinclude": "Provenance:target"}, headers=parent
    ).json()
    included = [
        e["resource"]["target"][0]["reference"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Provenance"
    ]
    assert included == ["CarePlan/lars-plan/_history/1"]
    # The child sees the hidden plan's Provenance.
    child = bearer(tokens.citizen(cpr=LARS_BERGGREN))
    assert len(provenances(world, child, "CarePlan/lars-hidden")) == 1


def test_an_unrelated_municipality_sees_no_provenance_of_the_patients_data(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    for target in ("CarePlan/lars-plan", "Patient/lars", "Condition/lars-fracture"):
        sees_no_provenance_of(world, tokens, odder, target, "lars")
    # Non-patient data stays readable with its Provenance (the same rule as the target).
    assert len(provenances(world, odder, "Organization/hospital")) == 1


def test_an_opted_out_organisation_sees_no_provenance_of_the_shared_plan(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = bearer(tokens.system(sor=MUNICIPALITY_SOR))
    assert world.get("/fhir/CarePlan/einer-rehab", headers=horsens).status_code == 404
    sees_no_provenance_of(world, tokens, horsens, "CarePlan/einer-rehab", "einer")
    # The opt-out itself stays visible to the organisation it blocks, and so does its
    # Provenance.
    assert len(provenances(world, horsens, "Consent/einer-optout")) == 1
    # With an emergency override (værdispring) the plan and its Provenance are readable.
    override = bearer(tokens.professional(sor=MUNICIPALITY_SOR, override_reason="Akut"))
    assert len(provenances(world, override, "CarePlan/einer-rehab")) == 1


def test_a_plan_hidden_after_the_fact_hides_its_provenance(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    assert len(provenances(world, parent, "CarePlan/lars-plan")) == 1
    patch = world.patch(
        "/fhir/CarePlan/lars-plan",
        json=[{"op": "add", "path": "/meta/security", "value": [HIDDEN_LABEL]}],
        headers={**hospital(tokens), **PATCH_JSON},
    )
    assert patch.status_code == 200
    sees_no_provenance_of(world, tokens, parent, "CarePlan/lars-plan", "lars")
    assert len(provenances(world, hospital(tokens), "CarePlan/lars-plan")) == 2


def test_a_custody_holder_of_a_child_of_15_sees_no_provenance(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, JUST_15_CPR))
    for path in ("Provenance", "CarePlan", "Patient/just15/$everything"):
        response = world.get(
            f"/fhir/{path}", params={"_revinclude": "Provenance:target"}, headers=parent
        )
        assert response.status_code == 403, path
        assert "just15-plan" not in response.text


def test_a_failed_transaction_leaves_no_provenance(world: TestClient, tokens: TokenFactory) -> None:
    headers = hospital(tokens)
    bundle = _bundle("transaction")
    bundle["entry"][2]["resource"]["status"] = "not-a-status"
    response = world.post("/fhir", json=bundle, headers=headers)
    assert response.status_code == 400, response.text
    assert provenances(world, headers, "CarePlan/transaction-put") == []
    recorded = world.get("/fhir/Provenance", params={"_summary": "count"}, headers=headers)
    before = recorded.json()["total"]
    assert world.post("/fhir", json=bundle, headers=headers).status_code == 400
    again = world.get("/fhir/Provenance", params={"_summary": "count"}, headers=headers)
    assert again.json()["total"] == before


def test_every_kind_of_writer_gets_a_valid_r4_provenance(tokens: TokenFactory) -> None:
    stored = StoredResource("CarePlan", "x", 3, datetime(2026, 1, 2, tzinfo=UTC), True, None)
    writers = {
        "system": tokens.principal(tokens.system_claims()),
        "professional": tokens.principal(tokens.professional_claims()),
        "citizen": tokens.principal(tokens.citizen_claims()),
        "internal": Principal.internal("load"),
    }
    for kind, principal in writers.items():
        content = provenance(stored, principal, "Regionshospitalet Horsens")
        require_valid(content, "Provenance")  # 400 if it were not R4
        assert content["target"] == [{"reference": "CarePlan/x/_history/3"}]
        assert content["recorded"] == "2026-01-02T00:00:00.000Z"
        assert activity(content) == "DELETE", kind
    citizen = provenance(stored, writers["citizen"], None)["agent"]
    assert [a["type"]["coding"][0]["code"] for a in citizen] == ["author", "enterer"]
    assert citizen[0]["who"]["identifier"]["system"] == CPR_SYSTEM
