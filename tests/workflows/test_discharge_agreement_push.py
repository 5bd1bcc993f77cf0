"""A hospital EHR pushes an udskrivningsaftale (psykiatriloven §13a) as one transaction.

R4 http.html#transaction: all entries succeed or none is stored; conditional creates
(ifNoneExist) make resending harmless (docs/profiles.md §8).
"""

from __future__ import annotations

import copy

from tests.support.tokens import TokenFactory
from tests.workflows.conftest import ClientFor, example, location_id, statuses, total

PSYKIATRIEN_SOR = "6038121000016004"  # Regionspsykiatrien Horsens in the examples and demo
RASMUS = "0504909989"
EXAMPLE = "Bundle-discharge-agreement.json"
TYPES = ("Patient", "Organization", "Condition", "Goal", "CarePlan")


def _counts(client) -> dict[str, int]:
    return {
        "Patient": total(client, f"Patient?identifier=urn:oid:1.2.208.176.1.2|{RASMUS}"),
        "Organization": total(client, "Organization"),
        "Condition": total(client, "Condition"),
        "Goal": total(client, "Goal"),
        "CarePlan": total(client, "CarePlan"),
    }


def test_push_stores_the_plan_with_its_references_resolved(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    hospital = client_for(tokens.system(sor=PSYKIATRIEN_SOR, scopes="system/*.cruds"))
    response = hospital.post("/fhir", json=example(EXAMPLE))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    assert [s.split()[0] for s in statuses(body)] == ["201"] * 7
    ids = [location_id(e) for e in body["entry"]]
    patient_id, psyk_id, hedensted_id, gp_id, condition_id, goal_id, plan_id = ids

    plan = hospital.get(f"/fhir/CarePlan/{plan_id}")
    assert plan.status_code == 200
    plan_json = plan.json()
    assert plan_json["subject"]["reference"] == f"Patient/{patient_id}"
    assert plan_json["author"]["reference"] == f"Organization/{psyk_id}"
    assert plan_json["addresses"] == [
        {"reference": f"Condition/{condition_id}", "display": "Paranoid skizofreni"}
    ]
    assert plan_json["goal"] == [{"reference": f"Goal/{goal_id}"}]
    members = [p["member"]["reference"] for p in plan_json["contained"][0]["participant"]]
    assert members == [
        f"Organization/{psyk_id}",
        f"Organization/{hedensted_id}",
        f"Organization/{gp_id}",
    ]
    assert hospital.get(f"/fhir/Goal/{goal_id}").json()["subject"]["reference"] == (
        f"Patient/{patient_id}"
    )
    assert _counts(hospital) == {
        "Patient": 1,
        "Organization": 3,
        "Condition": 1,
        "Goal": 1,
        "CarePlan": 1,
    }


def test_resending_the_same_bundle_creates_no_duplicates(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    hospital = client_for(tokens.system(sor=PSYKIATRIEN_SOR, scopes="system/*.cruds"))
    first = hospital.post("/fhir", json=example(EXAMPLE)).json()
    again = hospital.post("/fhir", json=example(EXAMPLE))
    assert again.status_code == 200, again.text
    assert [s.split()[0] for s in statuses(again.json())] == ["200"] * 7
    assert [location_id(e) for e in again.json()["entry"]] == [
        location_id(e) for e in first["entry"]
    ]
    assert _counts(hospital) == {
        "Patient": 1,
        "Organization": 3,
        "Condition": 1,
        "Goal": 1,
        "CarePlan": 1,
    }
    # Nothing was rewritten: every resource is still at version 1.
    for entry in again.json()["entry"]:
        assert entry["response"]["location"].endswith("/_history/1"), entry["response"]


def _broken_condition(bundle: dict) -> dict:
    """The Condition coded in SNOMED CT only: esp-condition allows SKS-D and ICPC-2."""
    broken = copy.deepcopy(bundle)
    condition = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "Condition")[
        "resource"
    ]
    condition["code"]["coding"] = [
        {
            "system": "http://snomed.info/sct",
            "code": "35252006",
            "display": "Paranoid schizophrenia",
        }
    ]
    return broken


def _plan_without_start(bundle: dict) -> dict:
    broken = copy.deepcopy(bundle)
    plan = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "CarePlan")
    del plan["resource"]["period"]["start"]
    return broken


def _dangling_reference(bundle: dict) -> dict:
    broken = copy.deepcopy(bundle)
    plan = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["resource"]["goal"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}]
    return broken


def test_a_broken_entry_stores_nothing(client_for: ClientFor, tokens: TokenFactory) -> None:
    hospital = client_for(tokens.system(sor=PSYKIATRIEN_SOR, scopes="system/*.cruds"))
    nothing = dict.fromkeys(TYPES, 0)
    cases = [
        (_broken_condition, 422, "Bundle.entry[4]"),
        (_plan_without_start, 422, "Bundle.entry[6]"),
        (_dangling_reference, 400, "Bundle.entry[6]"),
    ]
    for breaker, status, where in cases:
        response = hospital.post("/fhir", json=breaker(example(EXAMPLE)))
        assert response.status_code == status, (breaker.__name__, response.text)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        expressions = [x for i in outcome["issue"] for x in i.get("expression", [])]
        assert any(x.startswith(where) for x in expressions), (breaker.__name__, outcome)
        assert _counts(hospital) == nothing, breaker.__name__
    # The intact bundle still goes through afterwards.
    assert hospital.post("/fhir", json=example(EXAMPLE)).status_code == 200
    assert _counts(hospital)["CarePlan"] == 1
