"""A municipality's system pulls the genoptræningsplaner (sundhedsloven §140) addressed to it.

docs/profiles.md §9 and docs/search.md (delta pull): `_lastUpdated=gt<last watermark>`
with `_sort=_lastUpdated`; it sees the plans whose CareTeam names it (treatment relation,
sundhedsloven §42a) and nothing addressed to other municipalities.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from app.demo.opt_out import opt_out_consent
from app.demo.organisations import HEDENSTED, HORSENS, HOSPITAL, ODDER, SKANDERBORG, Org
from app.demo.plan_bundle import plan_bundle
from app.demo.plans import ALI_REHAB, EINER_REHAB, LARS_HIDDEN, LARS_REHAB, RIKKE_REHAB
from tests.support.tokens import TokenFactory
from tests.workflows.conftest import ClientFor, entries, example

REHAB = "http://esp-careplans.dk/fhir/CodeSystem/plan-type|rehabilitation-plan"
EINER = "0201609995"


def _municipality(client_for: ClientFor, tokens: TokenFactory, org: Org) -> TestClient:
    return client_for(
        tokens.system(
            sor=org.sor, scopes="system/*.rs", kommunekode=org.kommunekode, client_id=org.key
        )
    )


def _pull(client: TestClient, since: str) -> dict:
    response = client.get(
        "/fhir/CarePlan",
        params=[
            ("category", REHAB),
            ("_lastUpdated", f"gt{since}"),
            ("_sort", "_lastUpdated"),
            ("_include", "CarePlan:goal"),
            ("_include", "CarePlan:condition"),
            ("_include", "CarePlan:subject"),
        ],
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _plan_keys(bundle: dict) -> list[str]:
    """Which plans matched, by their identifier (examples' and demo's record ids)."""
    return sorted(p["identifier"][0]["value"] for p in entries(bundle))


def _push_all(hospital: TestClient, client_for: ClientFor, tokens: TokenFactory) -> None:
    for bundle in (
        example("Bundle-rehabilitation-plan.json"),  # Nancy Ann Berggren → Horsens Kommune
        plan_bundle(LARS_REHAB),  # → Horsens Kommune
        plan_bundle(RIKKE_REHAB),  # → Horsens Kommune
        plan_bundle(replace(LARS_HIDDEN, hidden_from_custody_holder=False)),  # not a GOP
        plan_bundle(ALI_REHAB),  # → Hedensted Kommune
        plan_bundle(EINER_REHAB),  # → Skanderborg Kommune, which Einer opts out of below
    ):
        response = hospital.post("/fhir", json=bundle)
        assert response.status_code == 200, response.text
    einer_id = hospital.get(
        "/fhir/Patient", params={"identifier": f"urn:oid:1.2.208.176.1.2|{EINER}"}
    ).json()["entry"][0]["resource"]["id"]
    consent = opt_out_consent("Einer", SKANDERBORG, "test-einer-fravalg")
    consent["patient"] = {"reference": f"Patient/{einer_id}"}
    consent["provision"]["actor"][0]["reference"].pop("reference")
    einer = client_for(tokens.citizen(EINER, scopes="patient/*.rs patient/Consent.cud"))
    created = einer.post("/fhir/Consent", json=consent)
    assert created.status_code == 201, created.text


def test_each_municipality_pulls_only_the_plans_addressed_to_it(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    horsens = _municipality(client_for, tokens, HORSENS)
    first = _pull(horsens, "2000-01-01T00:00:00Z")
    assert first.get("entry", []) == [] and first["total"] == 0
    since = first["meta"]["lastUpdated"]  # the watermark: the next pull starts there

    hospital = client_for(tokens.system(sor=HOSPITAL.sor, scopes="system/*.cruds"))
    _push_all(hospital, client_for, tokens)

    pulled = _pull(horsens, since)
    assert _plan_keys(pulled) == sorted(
        [
            "urn:uuid:ba313512-60d8-5fc1-a505-7134a600552d",  # the example (Nancy Ann)
            LARS_REHAB.identifier["value"],
            RIKKE_REHAB.identifier["value"],
        ]
    )
    assert pulled["total"] == 3
    included = [r["resourceType"] for r in entries(pulled, "include")]
    assert sorted(included) == ["Condition"] * 3 + ["Goal"] * 3 + ["Patient"] * 3
    subjects = {p["subject"]["reference"] for p in entries(pulled)}
    assert {
        f"Patient/{r['id']}" for r in entries(pulled, "include") if r["resourceType"] == "Patient"
    } == subjects

    hedensted = _pull(_municipality(client_for, tokens, HEDENSTED), since)
    assert _plan_keys(hedensted) == [ALI_REHAB.identifier["value"]]
    assert hedensted["total"] == 1

    odder = _pull(_municipality(client_for, tokens, ODDER), since)
    assert odder.get("entry", []) == [] and odder["total"] == 0

    # Skanderborg Kommune is party to Einer's plan, but Einer opted out of sharing with it.
    skanderborg = _pull(_municipality(client_for, tokens, SKANDERBORG), since)
    assert skanderborg.get("entry", []) == [] and skanderborg["total"] == 0


def test_the_next_pull_brings_only_what_changed(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    horsens = _municipality(client_for, tokens, HORSENS)
    hospital = client_for(tokens.system(sor=HOSPITAL.sor, scopes="system/*.cruds"))
    for bundle in (plan_bundle(LARS_REHAB), plan_bundle(RIKKE_REHAB)):
        assert hospital.post("/fhir", json=bundle).status_code == 200
    first = _pull(horsens, "2000-01-01T00:00:00Z")
    assert first["total"] == 2
    since = first["meta"]["lastUpdated"]

    # The hospital revises Lars's plan; Rikke's is untouched.
    lars = next(p for p in entries(first) if p["identifier"] == [LARS_REHAB.identifier])
    lars["period"]["end"] = "2027-01-31"
    updated = hospital.put(f"/fhir/CarePlan/{lars['id']}", json=lars)
    assert updated.status_code == 200, updated.text

    second = _pull(horsens, since)
    assert [(p["id"], p["meta"]["versionId"]) for p in entries(second)] == [(lars["id"], "2")]
    assert second["total"] == 1
    assert second["meta"]["lastUpdated"] > since
    third = _pull(horsens, second["meta"]["lastUpdated"])
    assert third.get("entry", []) == [] and third["total"] == 0
