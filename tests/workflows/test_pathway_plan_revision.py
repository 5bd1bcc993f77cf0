"""A GP system pushes a forløbsplan for KOL, then revises it: each revision is a version.

R4 http.html#update, #patch, #history and #vread: the plan's evolution stays readable.
"""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from tests.support.tokens import TokenFactory
from tests.workflows.conftest import ClientFor, example, location_id, total

GP_SOR, GP_YDERNUMMER = "6038971000016005", "045391"  # Skanderborg Lægecenter (example, demo)
BRUNO = "2509479989"


def _gp(client_for: ClientFor, tokens: TokenFactory) -> TestClient:
    return client_for(tokens.system(sor=GP_SOR, scopes="system/*.cruds", ydernummer=GP_YDERNUMMER))


def _push(gp: TestClient) -> dict[str, str]:
    response = gp.post("/fhir", json=example("Bundle-pathway-plan-copd.json"))
    assert response.status_code == 200, response.text
    types = [e["response"]["location"].split("/")[-4] for e in response.json()["entry"]]
    return {t: location_id(e) for t, e in zip(types, response.json()["entry"], strict=True)}


def test_gp_pushes_a_copd_plan_with_its_diagnosis(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    gp = _gp(client_for, tokens)
    ids = _push(gp)
    plan = gp.get(f"/fhir/CarePlan/{ids['CarePlan']}").json()
    condition = gp.get(f"/fhir/Condition/{ids['Condition']}").json()
    assert plan["addresses"][0]["reference"] == f"Condition/{ids['Condition']}"
    assert {c["code"] for c in condition["code"]["coding"]} == {"R95", "DJ449"}
    assert total(gp, f"CarePlan?subject.identifier=urn:oid:1.2.208.176.1.2|{BRUNO}") == 1
    assert total(gp, "Goal") == 2
    found = gp.get(
        "/fhir/CarePlan",
        params={
            "category": "http://esp-careplans.dk/fhir/CodeSystem/plan-type|pathway-plan-copd",
            "_include": "CarePlan:condition",
        },
    ).json()
    kinds = sorted((e["resource"]["resourceType"], e["search"]["mode"]) for e in found["entry"])
    assert kinds == [("CarePlan", "match"), ("Condition", "include")]


def test_revisions_are_versions_and_history_shows_them(
    client_for: ClientFor, tokens: TokenFactory
) -> None:
    gp = _gp(client_for, tokens)
    plan_id = _push(gp)["CarePlan"]
    url = f"/fhir/CarePlan/{plan_id}"
    original = gp.get(url).json()

    # Revision 1 (PUT): the yearly control found a worse FEV1; pulmonary rehab is added.
    revised = copy.deepcopy(original)
    revised["description"] = original["description"] + " Revideret efter spirometri i december."
    revised["activity"].append(
        {
            "detail": {
                "code": {
                    "coding": [
                        {
                            "system": "http://esp-careplans.dk/fhir/CodeSystem/pathway-activity",
                            "code": "medication-review",
                            "display": "Medicingennemgang",
                        }
                    ]
                },
                "status": "scheduled",
                "performer": original["activity"][0]["detail"]["performer"],
                "description": "Medicingennemgang med justering af inhalationsmedicin.",
            }
        }
    )
    put = gp.put(url, json=revised, headers={"If-Match": 'W/"1"'})
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == 'W/"2"'

    # Revision 2 (JSON Patch): the plan is put on hold while Bruno is admitted.
    patch = gp.patch(
        url,
        content='[{"op": "replace", "path": "/status", "value": "on-hold"}]',
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"2"'},
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["meta"]["versionId"] == "3"

    # A stale If-Match is refused (R4 http.html#concurrency).
    stale = gp.put(url, json=revised, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412, stale.text

    history = gp.get(f"{url}/_history")
    assert history.status_code == 200, history.text
    bundle = history.json()
    assert bundle["type"] == "history"
    assert len(bundle["entry"]) == 3
    versions = [e["resource"]["meta"]["versionId"] for e in bundle["entry"]]
    assert versions == ["3", "2", "1"]  # newest first
    methods = [e["request"]["method"] for e in bundle["entry"]]
    assert methods == ["PUT", "PUT", "POST"] or methods == ["PATCH", "PUT", "POST"]
    by_version = {e["resource"]["meta"]["versionId"]: e["resource"] for e in bundle["entry"]}
    assert [by_version[v]["status"] for v in ("1", "2", "3")] == ["active", "active", "on-hold"]
    assert [len(by_version[v]["activity"]) for v in ("1", "2", "3")] == [5, 6, 6]

    v1 = gp.get(f"{url}/_history/1")
    assert v1.status_code == 200
    assert v1.json()["description"] == original["description"]
    assert gp.get(url).json()["status"] == "on-hold"
    assert total(gp, "CarePlan") == 1  # versions, not copies
