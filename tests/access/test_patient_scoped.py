"""A patient-scoped search decides the patient's relation and opt-outs once (#14 part 3).

`CarePlan?subject=Patient/X`, `Patient/X/$everything` and their pages and totals bind X
and take X's relation and opt-outs from subqueries evaluated once per statement
(storage/access_sql.py, `SCOPE_PATIENT`); every other patient of a row is still checked
row by row. Each test asks the same through a patient-scoped search and through one
that names no patient, and both must show exactly the same rows.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.loader import LOADER, as_organisation, load_bundle
from app.settings import Settings
from app.storage.engine import create_engine_sync
from app.storage.tables import treatment_relation
from tests.access.world import (
    CONTACT_FEED_SOR,
    OTHER_MUNICIPALITY_SOR,
    Writes,
    contact,
    einer_opt_out,
    ids,
    load_writes,
)
from tests.support.tokens import (
    HOSPITAL_SOR,
    MUNICIPALITY_SOR,
    TokenFactory,
    bearer,
)


def _search(client: TestClient, headers: dict[str, str], path: str, **params: str) -> list[str]:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return ids(response.json(), "CarePlan")


def _plans_of(client: TestClient, headers: dict[str, str], patient: str) -> dict[str, Any]:
    """The patient's plans as the patient-scoped searches and an unscoped one show them
    ($everything: 404 when the Patient itself is hidden from the caller)."""
    unscoped = [
        i
        for i in _search(client, headers, "/fhir/CarePlan", _count="100")
        if i.startswith(f"{patient}-") or i == "shared-row"
    ]
    everything = client.get(f"/fhir/Patient/{patient}/$everything", headers=headers)
    return {
        "subject": _search(client, headers, "/fhir/CarePlan", subject=f"Patient/{patient}"),
        "everything": 404 if everything.status_code == 404 else ids(everything.json(), "CarePlan"),
        "unscoped": unscoped,
    }


def _total(client: TestClient, headers: dict[str, str], patient: str) -> Any:
    params = {"subject": f"Patient/{patient}", "_total": "accurate", "_count": "1"}
    return client.get("/fhir/CarePlan", params=params, headers=headers).json().get("total")


def test_a_non_treating_organisation_sees_nothing_of_the_patient(
    world: TestClient, tokens: TokenFactory
) -> None:
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs"))
    assert _plans_of(world, odder, "lars") == {"subject": [], "everything": 404, "unscoped": []}
    assert _search(world, odder, "/fhir/CarePlan") == []
    assert _total(world, odder, "lars") == 0


def test_an_opted_out_patients_plan_stays_hidden_without_an_override(
    world: TestClient, tokens: TokenFactory
) -> None:
    # Horsens Kommune is named in Einer's rehabilitation plan; Einer opted out of it.
    horsens = bearer(tokens.professional(sor=MUNICIPALITY_SOR))
    assert _plans_of(world, horsens, "einer")["subject"] == []
    assert [i for i in _search(world, horsens, "/fhir/CarePlan") if i.startswith("einer")] == []
    assert _total(world, horsens, "einer") == 0
    override = {**horsens, "X-Consent-Override": quote("Akut indlæggelse")}
    assert _search(world, override, "/fhir/CarePlan", subject="Patient/einer") == ["einer-rehab"]
    assert [i for i in _search(world, override, "/fhir/CarePlan") if i.startswith("einer")] == [
        "einer-rehab"
    ]
    assert _total(world, override, "einer") == 1


def test_a_custody_holder_never_gets_the_hidden_plan(
    world: TestClient, tokens: TokenFactory
) -> None:
    kirsten = bearer(tokens.custody_parent())  # Kirsten for Lars
    seen = _plans_of(world, kirsten, "lars")
    assert seen == {
        "subject": ["lars-plan"],
        "everything": ["lars-plan"],
        "unscoped": ["lars-plan"],
    }
    everything = world.get("/fhir/Patient/lars/$everything", headers=kirsten).json()
    assert {"lars-adjustment", "lars-school-goal", "lars-hidden"}.isdisjoint(ids(everything))
    assert _total(world, kirsten, "lars") == 1


def _opt_out(cid: str, patient: str, organisation: str) -> dict[str, Any]:
    consent = einer_opt_out()
    consent["id"] = cid
    consent["patient"] = {"reference": f"Patient/{patient}"}
    consent["provision"]["actor"][0]["reference"] = {"reference": f"Organization/{organisation}"}
    return consent


def test_a_rows_other_patients_are_still_checked_row_by_row(
    world: TestClient, settings: Settings, tokens: TokenFactory
) -> None:
    """A plan of Lars with Gitte as a performer is in both compartments: an organisation
    that treats Gitte (not Lars) sees it in Lars' search, and Gitte's opt-out hides it
    again although Lars opted out of nothing."""
    shared = {
        "resourceType": "CarePlan",
        "id": "shared-row",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/lars"},
        "activity": [
            {"detail": {"status": "in-progress", "performer": [{"reference": "Patient/gitte"}]}}
        ],
    }
    load_writes(settings, Writes(as_organisation(HOSPITAL_SOR), [shared]))
    load_writes(
        settings,
        Writes(
            as_organisation(CONTACT_FEED_SOR), [contact("odder-gitte", "gitte", "odder-kommune")]
        ),
    )
    odder = bearer(tokens.system(sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.rs"))
    # (Lars himself, the Patient, is not shared with it: his $everything is 404.)
    seen = _plans_of(world, odder, "lars")
    assert seen == {"subject": ["shared-row"], "everything": 404, "unscoped": ["shared-row"]}
    assert _search(world, odder, "/fhir/CarePlan", subject="Patient/gitte") == ["gitte-plan"]
    assert _search(world, odder, "/fhir/CarePlan", performer="Patient/gitte") == ["shared-row"]
    assert _total(world, odder, "lars") == 1

    load_writes(settings, Writes(LOADER, [_opt_out("gitte-optout", "gitte", "odder-kommune")]))
    assert _plans_of(world, odder, "lars") == {"subject": [], "everything": 404, "unscoped": []}
    assert _search(world, odder, "/fhir/CarePlan", subject="Patient/gitte") == []
    assert _search(world, odder, "/fhir/CarePlan", performer="Patient/gitte") == []
    assert _total(world, odder, "lars") == 0


def test_pages_of_a_patient_scoped_search_follow_the_index_both_ways(
    world: TestClient, tokens: TokenFactory
) -> None:
    hospital = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.rs"))
    params = {"subject": "Patient/lars", "_count": "1"}
    page = world.get("/fhir/CarePlan", params=params, headers=hospital).json()
    seen = [ids(page)]
    while next_link := [link["url"] for link in page["link"] if link["relation"] == "next"]:
        page = world.get(next_link[0], headers=hospital).json()
        seen.append(ids(page))
    assert seen == [["lars-plan"], ["lars-hidden"]]  # pk order: as written
    (previous,) = [link["url"] for link in page["link"] if link["relation"] == "previous"]
    assert ids(world.get(previous, headers=hospital).json()) == ["lars-plan"]


def test_relation_rows_stay_bounded_per_organisation_and_patient(
    world: TestClient, settings: Settings
) -> None:
    """However much is written for a patient, the relation rows of (organisation, patient)
    are the relation records that are open now: the hospital's plans add none, and the
    contact feed's updates of one contact replace its row."""
    plans = [
        {"resourceType": "CarePlan", "status": "active", "intent": "plan"}
        | {"subject": {"reference": "Patient/lars"}, "description": f"Plan {n}"}
        for n in range(40)
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": p, "request": {"method": "POST", "url": "CarePlan"}} for p in plans],
    }
    for writer in (HOSPITAL_SOR, CONTACT_FEED_SOR):  # the feed is a relation authority
        asyncio.run(load_bundle(settings, bundle, principal=as_organisation(writer)))
    episode = contact("contact-lars", "lars", "hospital")
    for status in ("active", "onhold", "active", "finished", "active"):
        load_update(settings, {**episode, "status": status})

    engine = create_engine_sync(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(treatment_relation.c.org_sor, func.count())
                .where(treatment_relation.c.patient_id == "lars")
                .group_by(treatment_relation.c.org_sor)
            ).all()
    finally:
        engine.dispose()
    assert dict(rows) == {HOSPITAL_SOR: 1}


def load_update(settings: Settings, resource: dict[str, Any]) -> None:
    """A PUT of the contact feed's record (a new version of it)."""
    entry = {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    response = asyncio.run(
        load_bundle(settings, bundle, principal=as_organisation(CONTACT_FEED_SOR))
    )
    assert response["entry"][0]["response"]["status"].startswith("200"), response
