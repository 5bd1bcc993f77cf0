"""Unknown search parameters (R4 search.html#errors), `_format` spelling, rule codings.

By default an unknown or unsupported parameter is ignored, reported in an
OperationOutcome entry (search.mode = outcome) and left out of the links;
`Prefer: handling=strict` makes it a 400. Conditional interactions are always strict:
ignoring a criterion there would widen what a delete or update touches.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.fhir.outcome import RULE_SYSTEM
from tests.support.resources import CPR_SYSTEM, careplan, patient, unique_cpr

FHIR_JSON = {"Content-Type": "application/fhir+json"}
STRICT = {"Prefer": "handling=strict"}
LENIENT = {"Prefer": "handling=lenient"}


def _create(client: TestClient, resource: dict) -> str:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _self_query(bundle: dict) -> dict[str, list[str]]:
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    return parse_qs(urlsplit(url).query)


def _outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def _matches(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


@pytest.mark.parametrize("prefer", [{}, LENIENT], ids=["default", "lenient"])
def test_unknown_parameters_are_ignored_reported_and_left_out_of_the_self_link(
    client: TestClient, prefer: dict[str, str]
) -> None:
    wanted = _create(client, patient(unique_cpr(), family="Lauridsen"))
    _create(client, patient(unique_cpr(), family="Hansen"))
    response = client.get(
        "/fhir/Patient", params={"family": "Lauridsen", "colour": "red"}, headers=prefer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert _matches(body) == [wanted]
    assert body["total"] == 1
    (outcome,) = _outcomes(body)
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"], issue["expression"]) == (
        "warning",
        "not-supported",
        ["colour"],
    )
    assert issue["details"]["coding"] == [{"system": RULE_SYSTEM, "code": "unknown-parameter"}]
    assert _self_query(body) == {"family": ["Lauridsen"]}


def test_strict_handling_makes_an_unknown_parameter_400(client: TestClient) -> None:
    response = client.get("/fhir/Patient", params={"colour": "red"}, headers=STRICT)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["colour"]


def test_unsupported_parameters_and_modifiers_are_ignored_unless_strict(
    client: TestClient,
) -> None:
    _create(client, careplan())
    for params in ({"_text": "knæ"}, {"category:in": "http://x/ValueSet/y"}):
        default = client.get("/fhir/CarePlan", params=params)
        assert default.status_code == 200, default.text
        assert len(_matches(default.json())) == 1
        assert _outcomes(default.json())[0]["issue"][0]["expression"] == list(params)
        assert client.get("/fhir/CarePlan", params=params, headers=STRICT).status_code == 400


def test_malformed_values_of_known_parameters_are_400_in_every_mode(client: TestClient) -> None:
    for prefer in ({}, LENIENT, STRICT):
        response = client.get("/fhir/Patient", params={"birthdate": "yesterday"}, headers=prefer)
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == ["birthdate"]


def test_paging_works_with_an_ignored_parameter(client: TestClient) -> None:
    for _ in range(3):
        _create(client, patient(cpr=unique_cpr()))
    first = client.get("/fhir/Patient", params={"_count": 1, "colour": "red"}).json()
    seen = _matches(first)
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while url:
        assert "colour" not in url
        page = client.get(url.removeprefix("http://testserver"))
        assert page.status_code == 200, page.text
        seen += _matches(page.json())
        url = next((x["url"] for x in page.json()["link"] if x["relation"] == "next"), None)
    assert len(set(seen)) == 3


def test_a_parameter_missing_on_one_searched_type_is_ignored_on_every_type(
    client: TestClient,
) -> None:
    """Patient has `family`, CarePlan has not: applied to one type only, it means two things."""
    pid = _create(client, patient(family="Hansen"))
    plan = _create(client, careplan())
    body = client.get("/fhir", params={"_type": "Patient,CarePlan", "family": "Nobody"}).json()
    assert sorted(_matches(body)) == sorted([pid, plan])
    assert _outcomes(body)[0]["issue"][0]["expression"] == ["family"]
    strict = client.get(
        "/fhir", params={"_type": "Patient,CarePlan", "family": "x"}, headers=STRICT
    )
    assert strict.status_code == 400


def test_conformance_searches_follow_the_same_rule(client: TestClient) -> None:
    default = client.get("/fhir/StructureDefinition", params={"name": "EspPatient", "colour": "x"})
    assert default.status_code == 200
    assert _outcomes(default.json())[0]["issue"][0]["expression"] == ["colour"]
    assert _self_query(default.json()) == {"name": ["EspPatient"]}
    strict = client.get("/fhir/StructureDefinition", params={"colour": "x"}, headers=STRICT)
    assert strict.status_code == 400
    nameless = client.get("/fhir/StructureDefinition?=x")  # found by schemathesis: was a 500
    assert nameless.status_code == 200
    assert _self_query(nameless.json()) == {}


def test_count_zero_is_summary_count(client: TestClient) -> None:
    """R4 search.html#count: `_count=0` is treated as `_summary=count` (fhirpy's count())."""
    for _ in range(2):
        _create(client, patient(cpr=unique_cpr()))
    body = client.get("/fhir/Patient", params={"_count": 0, "_totalMethod": "count"}).json()
    assert body["total"] == 2
    assert _matches(body) == []


# -- conditional interactions are always strict ---------------------------------------


@pytest.mark.parametrize("prefer", [{}, LENIENT], ids=["default", "lenient"])
def test_a_conditional_delete_with_an_unknown_parameter_never_widens(
    client: TestClient, prefer: dict[str, str]
) -> None:
    cpr = unique_cpr()
    pid = _create(client, patient(cpr=cpr))
    response = client.delete(
        "/fhir/Patient",
        params={"colour": "red", "identifier": f"{CPR_SYSTEM}|{cpr}"},
        headers=prefer,
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["colour"]
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    only_unknown = client.delete("/fhir/Patient", params={"colour": "red"}, headers=prefer)
    assert only_unknown.status_code == 400
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200


@pytest.mark.parametrize("prefer", [{}, LENIENT], ids=["default", "lenient"])
def test_conditional_create_update_and_patch_are_strict(
    client: TestClient, prefer: dict[str, str]
) -> None:
    pid = _create(client, patient())
    create = client.post(
        "/fhir/Patient",
        json=patient(),
        headers={**FHIR_JSON, **prefer, "If-None-Exist": "colour=red"},
    )
    assert create.status_code == 400
    update = client.put(
        "/fhir/Patient", params={"colour": "red"}, json=patient(), headers={**FHIR_JSON, **prefer}
    )
    assert update.status_code == 400
    patch = client.patch(
        "/fhir/Patient",
        params={"colour": "red"},
        content=b'[{"op": "replace", "path": "/gender", "value": "female"}]',
        headers={"Content-Type": "application/json-patch+json", **prefer},
    )
    assert patch.status_code == 400
    history = client.get("/fhir/Patient/_history").json()
    assert [e["resource"]["id"] for e in history["entry"]] == [pid]


def test_a_transactions_conditional_entry_is_strict_even_when_lenient(client: TestClient) -> None:
    pid = _create(client, patient())
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Patient?colour=red"}}],
    }
    response = client.post("/fhir", json=bundle, headers={**FHIR_JSON, **LENIENT})
    assert response.status_code == 400
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200


# -- _format and rule codings -------------------------------------------------------


def test_format_with_the_plus_read_as_a_space_is_fhir_json(client: TestClient) -> None:
    for raw in ("application/fhir+json", "application/fhir%20json", "application/fhir%2Bjson"):
        response = client.get(f"/fhir/metadata?_format={raw}")
        assert response.status_code == 200, raw
        assert response.headers["content-type"].startswith("application/fhir+json")
    assert client.get("/fhir/Patient?_format=application/fhir+json").status_code == 200


def test_every_issue_coding_has_the_rule_system(client: TestClient) -> None:
    refused = client.post("/fhir/CarePlan", json=careplan(status="bogus"), headers=FHIR_JSON)
    for issue in refused.json()["issue"]:
        for coding in issue.get("details", {}).get("coding", []):
            assert coding["system"] == RULE_SYSTEM
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "required-binding"
