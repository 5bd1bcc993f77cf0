"""Patient/[id]/$everything (issue #15 part 4): exactly what the caller may see of the
patient's compartment, paged like a search, every entry audited as a read.

The attacks: the custody holder asks for the child's everything (the hidden plan and
what only it leads to stay out), an organisation the citizen opted out of and an
unrelated municipality ask for the patient (404, as for a Patient that does not exist).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient

from app.cli import _reindex
from app.fhir.instant import now_utc
from tests.access.world import EINER, FHIR_JSON, HIDDEN_LABEL, OTHER_MUNICIPALITY_SOR
from tests.support import tokens as people
from tests.support.tokens import TokenFactory, bearer

HOSPITAL_SOR, MUNICIPALITY_SOR = people.HOSPITAL_SOR, people.MUNICIPALITY_SOR
KIRSTEN_BERGGREN, LARS_BERGGREN = people.KIRSTEN_BERGGREN, people.LARS_BERGGREN

PATCH_JSON = {"Content-Type": "application/json-patch+json"}
LARS_ONLY_HIDDEN = {"CarePlan/lars-hidden", "Condition/lars-adjustment", "Goal/lars-school-goal"}


def refs(bundle: dict[str, Any]) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "match"
    ]


def everything(
    client: TestClient, headers: dict[str, str], patient: str = "lars", **params: str
) -> Any:
    return client.get(f"/fhir/Patient/{patient}/$everything", params=params, headers=headers)


def all_pages(client: TestClient, headers: dict[str, str], first: dict[str, Any]) -> list[str]:
    found, bundle = refs(first), first
    while True:
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return found
        assert "/fhir/Patient/lars/$everything?" in following[0]
        response = client.get(following[0].removeprefix("http://testserver"), headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += refs(bundle)


def test_the_clinician_gets_the_whole_compartment_and_nothing_of_others(
    world: TestClient, tokens: TokenFactory
) -> None:
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    response = everything(world, clinician)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    found = set(refs(bundle))
    assert {
        "Patient/lars",
        "CarePlan/lars-plan",
        "Condition/lars-fracture",
        "RelatedPerson/kirsten-lars",
        "EpisodeOfCare/contact-lars",
        *LARS_ONLY_HIDDEN,
    } <= found
    assert bundle["total"] == len(found)
    assert not any("gitte" in r or "einer" in r for r in found)
    provenance = [r for r in found if r.startswith("Provenance/")]
    # One Provenance per version of each resource in the compartment (all version 1 here).
    assert len(provenance) == len(found) - len(provenance)
    # Each is a compartment search: the same as asking per type.
    plans = world.get("/fhir/CarePlan", params={"subject": "Patient/lars"}, headers=clinician)
    assert {f"CarePlan/{e['resource']['id']}" for e in plans.json()["entry"]} == {
        r for r in found if r.startswith("CarePlan/")
    }


def test_the_custody_holder_gets_the_child_without_what_is_hidden(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    response = everything(world, parent)
    assert response.status_code == 200, response.text
    found = set(refs(response.json()))
    assert {"Patient/lars", "CarePlan/lars-plan", "Condition/lars-fracture"} <= found
    assert not found & LARS_ONLY_HIDDEN
    for name in ("lars-hidden", "lars-adjustment", "lars-school-goal"):
        assert name not in response.text
    # The child sees it all.
    child = everything(world, bearer(tokens.citizen(cpr=LARS_BERGGREN)))
    assert set(refs(child.json())) >= LARS_ONLY_HIDDEN


def test_a_label_added_later_takes_the_plan_out_of_the_custody_holders_everything(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN))
    before = set(refs(everything(world, parent).json()))
    assert "CarePlan/lars-plan" in before
    patch = world.patch(
        "/fhir/CarePlan/lars-plan",
        json=[{"op": "add", "path": "/meta/security", "value": [HIDDEN_LABEL]}],
        headers={**bearer(tokens.system(sor=HOSPITAL_SOR)), **PATCH_JSON},
    )
    assert patch.status_code == 200
    after = everything(world, parent)
    assert "lars-plan" not in after.text
    # Now only labelled plans lead to the fracture: it goes too, with both Provenances.
    assert "lars-fracture" not in after.text
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR))
    gone = {
        f"Provenance/{e['resource']['id']}"
        for target in ("CarePlan/lars-plan", "Condition/lars-fracture")
        for e in world.get("/fhir/Provenance", params={"target": target}, headers=hospital).json()[
            "entry"
        ]
    }
    assert len(gone) == 3  # the plan's two versions, the fracture's one
    provenances = {r for r in before if r.startswith("Provenance/")}
    assert set(refs(after.json())) & provenances == provenances - gone


def test_the_opted_out_and_the_unrelated_get_404_as_for_an_unknown_patient(
    world: TestClient, tokens: TokenFactory
) -> None:
    horsens = bearer(tokens.system(sor=MUNICIPALITY_SOR))
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR))
    unknown = everything(world, horsens, "no-such-patient")
    assert unknown.status_code == 404
    for headers, patient in ((horsens, "einer"), (odder, "lars"), (odder, "einer")):
        response = everything(world, headers, patient)
        assert response.status_code == 404, (patient, response.text)
        assert response.json()["issue"][0]["code"] == unknown.json()["issue"][0]["code"]
        assert response.text == unknown.text.replace("no-such-patient", patient)
    # The refusal is in the citizen's MinLog.
    log = world.get(
        "/fhir/AuditEvent",
        params={"patient": "Patient/einer", "outcome": "4"},
        headers=bearer(tokens.citizen(cpr=EINER)),
    ).json()
    assert any(
        a["who"].get("identifier", {}).get("value") == MUNICIPALITY_SOR
        for e in log["entry"]
        for a in e["resource"]["agent"]
    )


def test_scopes_that_cannot_read_are_refused_and_narrower_ones_narrow(
    world: TestClient, tokens: TokenFactory
) -> None:
    no_patient = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/CarePlan.rs"))
    refused = everything(world, no_patient)
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    search_only = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.s"))
    assert everything(world, search_only).status_code == 403
    narrow = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/Patient.r system/Goal.r"))
    found = set(refs(everything(world, narrow).json()))
    assert found == {"Patient/lars", "Goal/lars-school-goal"}


def test_type_since_and_count_narrow_and_page(world: TestClient, tokens: TokenFactory) -> None:
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    typed = everything(world, clinician, _type="CarePlan,Condition").json()
    assert {r.split("/")[0] for r in refs(typed)} == {"CarePlan", "Condition"}
    full = everything(world, clinician).json()
    paged = everything(world, clinician, _count="3")
    assert paged.status_code == 200
    assert len(refs(paged.json())) == 3
    pages = all_pages(world, clinician, paged.json())
    assert len(pages) == len(set(pages)) and set(pages) == set(refs(full))

    time.sleep(0.01)
    since = now_utc().isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    patched = world.patch(
        "/fhir/CarePlan/lars-plan",
        json=[{"op": "replace", "path": "/status", "value": "on-hold"}],
        headers={**bearer(tokens.system(sor=HOSPITAL_SOR)), **PATCH_JSON},
    )
    assert patched.status_code == 200
    recent = refs(everything(world, clinician, _since=since).json())
    assert sorted(r.split("/")[0] for r in recent) == ["CarePlan", "Provenance"]
    assert "CarePlan/lars-plan" in recent


def test_post_takes_the_parameters_in_a_parameters_resource(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = {**bearer(tokens.professional(sor=HOSPITAL_SOR)), **FHIR_JSON}
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Goal,Patient"},
            {"name": "_count", "valueInteger": 1},
        ],
    }
    response = world.post("/fhir/Patient/lars/$everything", json=body, headers=headers)
    assert response.status_code == 200, response.text
    first = response.json()
    assert len(refs(first)) == 1
    assert set(all_pages(world, headers, first)) == {"Patient/lars", "Goal/lars-school-goal"}


def test_bad_parameters_are_an_operation_outcome_naming_them(
    world: TestClient, tokens: TokenFactory
) -> None:
    headers = {**bearer(tokens.professional(sor=HOSPITAL_SOR)), **FHIR_JSON}
    for params, expression in (
        ({"_since": "yesterday"}, "_since"),
        ({"_type": "Organization"}, "_type"),
        ({"_type": "NoSuchType"}, "_type"),
        ({"_count": "many"}, "_count"),
        ({"start": "2024-01-01"}, "start"),
    ):
        response = everything(world, headers, **params)
        assert response.status_code == 400, (params, response.text)
        issue = response.json()["issue"][0]
        assert issue["expression"] == [expression], params
    for body in ({"resourceType": "Patient"}, {"resourceType": "Parameters", "parameter": [{}]}):
        response = world.post("/fhir/Patient/lars/$everything", json=body, headers=headers)
        assert response.status_code == 400, body
    assert world.delete("/fhir/Patient/lars/$everything", headers=headers).status_code == 405


def test_each_entry_is_audited_as_a_read_in_the_patients_minlog(
    world: TestClient, tokens: TokenFactory
) -> None:
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    assert everything(world, clinician, _type="CarePlan").status_code == 200
    child = bearer(tokens.citizen(cpr=LARS_BERGGREN))
    log = world.get(
        "/fhir/AuditEvent", params={"patient": "Patient/lars", "subtype": "read"}, headers=child
    ).json()
    events = [
        e["resource"]
        for e in log.get("entry", [])
        if any("$everything" in x.get("description", "") for x in e["resource"]["entity"])
    ]
    assert len(events) == 1
    (event,) = events
    assert event["action"] == "R"
    named = {x["what"]["reference"] for x in event["entity"] if "what" in x}
    assert {"Patient/lars", "CarePlan/lars-plan", "CarePlan/lars-hidden"} <= named


def test_the_capability_statement_offers_everything_and_the_provenance_revinclude(
    client: TestClient,
) -> None:
    rest = client.get("/fhir/metadata").json()["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    # An instance-level operation is advertised on its type (rest.resource.operation).
    operations = {op["name"]: op["definition"] for op in by_type["Patient"]["operation"]}
    assert operations["everything"].endswith("/OperationDefinition/Patient-everything")
    assert "everything" not in {op["name"] for op in by_type["CarePlan"].get("operation", [])}
    assert "Provenance:target" in by_type["CarePlan"]["searchRevInclude"]
    interactions = {i["code"] for i in by_type["Provenance"]["interaction"]}
    assert interactions == {"read", "vread", "history-instance", "history-type", "search-type"}


def test_everything_as_a_batch_entry_is_the_same_operation(
    world: TestClient, tokens: TokenFactory
) -> None:
    parent = {**bearer(tokens.custody_parent(KIRSTEN_BERGGREN, LARS_BERGGREN)), **FHIR_JSON}
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient/lars/$everything?_count=2"}}],
    }
    response = world.post("/fhir", json=batch, headers=parent)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["entry"]
    assert entry["response"]["status"].startswith("200")
    page = entry["resource"]
    assert len(refs(page)) == 2
    pages = all_pages(world, parent, page)
    # The parent's own reads add AuditEvents to the child's MinLog meanwhile: compare the rest.
    direct = refs(everything(world, parent).json())
    assert {r for r in pages if not r.startswith("AuditEvent/")} == {
        r for r in direct if not r.startswith("AuditEvent/")
    }
    assert not set(pages) & LARS_ONLY_HIDDEN


def test_a_reindex_keeps_provenance_in_its_targets_compartment(
    world: TestClient, tokens: TokenFactory, settings: Any
) -> None:
    clinician = bearer(tokens.professional(sor=HOSPITAL_SOR))
    before = set(refs(everything(world, clinician, _type="Provenance").json()))
    assert len(before) > 5
    asyncio.run(_reindex(settings, None))
    assert set(refs(everything(world, clinician, _type="Provenance").json())) == before
