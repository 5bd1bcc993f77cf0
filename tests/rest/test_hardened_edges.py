"""Input PostgreSQL cannot store, numbers out of range and ambiguous JSON: 4xx, never 500.

Every test runs on SQLite and PostgreSQL; on PostgreSQL each of these inputs used to
answer 500 (psycopg UntranslatableCharacter, integer out of range) or to be accepted.
"""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.support.resources import CPR_SYSTEM, careplan, patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _issue(response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def _stored(client: TestClient, resource_type: str) -> int:
    history = client.get(f"/fhir/{resource_type}/_history", params={"_count": 1000}).json()
    return len(history.get("entry", []))


def _created(client: TestClient) -> str:
    response = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 201
    return str(response.json()["id"])


# -- NUL and surrogates in URLs and headers -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "name",  # string
        "identifier",  # token
        "general-practitioner",  # reference
        "birthdate",  # date
        "_id",
        "_profile",  # uri
        "general-practitioner.name",  # chain
        "_has:CarePlan:patient:status",  # reverse chain
        "_sort",
    ],
)
def test_nul_in_a_search_parameter_is_400_naming_it(client: TestClient, name: str) -> None:
    issue = _issue(client.get("/fhir/Patient", params={name: "a\x00b"}))
    assert issue["expression"] == [name]
    assert "U+0000" in issue["diagnostics"]


def test_nul_in_a_search_parameter_name_is_400(client: TestClient) -> None:
    issue = _issue(client.get("/fhir/Patient?na%00me=x"))
    assert "U+0000" in issue["diagnostics"]
    assert "\x00" not in json.dumps(issue, ensure_ascii=False)


def test_nul_in_a_post_search_body_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient/_search",
        content=b"family=a%00b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _issue(response)["expression"] == ["family"]


def test_nul_in_a_system_search_and_in_history_parameters_is_400(client: TestClient) -> None:
    assert _issue(client.get("/fhir", params={"_id": "a\x00"}))["expression"] == ["_id"]
    assert _issue(client.get("/fhir/_history", params={"_since": "\x00"}))["expression"] == [
        "_since"
    ]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_nul_in_an_id_in_the_path_is_400(client: TestClient, method: str) -> None:
    headers = {"Content-Type": "application/json-patch+json"} if method == "PATCH" else FHIR_JSON
    body = b"[]" if method == "PATCH" else json.dumps({**patient(), "id": "ab"}).encode()
    response = client.request(
        method,
        "/fhir/Patient/a%00b",
        content=None if method in ("GET", "DELETE") else body,
        headers=headers,
    )
    issue = _issue(response)
    assert issue["expression"] == ["id"]
    assert "U+0000" in issue["diagnostics"]


def test_nul_in_an_id_of_history_and_vread_is_400(client: TestClient) -> None:
    assert _issue(client.get("/fhir/Patient/a%00/_history"))["expression"] == ["id"]
    assert _issue(client.get("/fhir/Patient/a%00/_history/1"))["expression"] == ["id"]


def test_nul_in_if_none_exist_and_in_conditional_criteria_is_400(client: TestClient) -> None:
    create = client.post(
        "/fhir/Patient",
        json=patient(),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={CPR_SYSTEM}|%00"},
    )
    assert _issue(create)["expression"] == ["identifier"]
    update = client.put(
        "/fhir/Patient", params={"identifier": "x\x00"}, json=patient(), headers=FHIR_JSON
    )
    assert _issue(update)["expression"] == ["identifier"]
    delete = client.delete("/fhir/Patient", params={"identifier": "x\x00"})
    assert _issue(delete)["expression"] == ["identifier"]
    assert _stored(client, "Patient") == 0


def test_nul_in_the_consent_override_reason_is_400(client: TestClient) -> None:
    response = client.get("/fhir/Patient", headers={"X-Consent-Override": "akut%00"})
    assert _issue(response)["expression"] == ["X-Consent-Override"]


def test_nul_in_a_transaction_entry_url_is_400(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "Patient?identifier=x%00"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert _issue(response)["expression"] == ["Bundle.entry[1].request.url"]
    bundle["entry"][1] = {
        "resource": patient(),
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=%00"},
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert _issue(response)["expression"] == ["Bundle.entry[1].request.ifNoneExist"]
    assert _stored(client, "Patient") == 0


# -- NUL, controls and surrogates inside JSON ------------------------------------------


@pytest.mark.parametrize(
    ("escape", "code_point"),
    [("\\u0000", "U+0000"), ("\\u0007", "U+0007"), ("\\ud800", "U+D800"), ("\\udfff", "U+DFFF")],
)
def test_forbidden_characters_in_json_strings_are_400_naming_the_element(
    client: TestClient, escape: str, code_point: str
) -> None:
    body = json.dumps(patient()).replace('"Lauridsen"', f'"Lau{escape}ridsen"')
    issue = _issue(client.post("/fhir/Patient", content=body, headers=FHIR_JSON))
    assert issue["expression"] == ["Patient.name[0].family"]
    assert code_point in issue["diagnostics"]
    assert _stored(client, "Patient") == 0


def test_nul_in_an_element_name_is_400(client: TestClient) -> None:
    body = json.dumps(patient()).replace('"gender"', '"gen\\u0000der"')
    issue = _issue(client.post("/fhir/Patient", content=body, headers=FHIR_JSON))
    assert issue["expression"] == ["Patient.gen\ufffdder"]


@pytest.mark.parametrize(
    ("resource_type", "body", "expression"),
    [
        ("Patient", {**patient(), "gender": None}, "Patient.gender"),
        ("CarePlan", {**careplan(), "period": {"start": None}}, "CarePlan.period.start"),
        ("Organization", {"resourceType": "Organization", "type": None}, "Organization.type"),
    ],
)
def test_a_null_element_is_400_naming_it(
    client: TestClient, resource_type: str, body: dict, expression: str
) -> None:
    # R4 json.html: an element without a value is left out, never `null` (it was stored).
    issue = _issue(client.post(f"/fhir/{resource_type}", json=body, headers=FHIR_JSON))
    assert issue["expression"] == [expression]
    assert "null" in issue["diagnostics"]
    assert _stored(client, resource_type) == 0


def test_null_stays_allowed_where_it_aligns_a_primitive_array() -> None:
    from app.fhir.json_limits import string_issue

    # R4 json.html#primitive: `given` and `_given` line up; a missing value is null.
    name = {"given": ["A", None], "_given": [None, {"extension": []}]}
    assert string_issue({"resourceType": "Patient", "name": [name]}) is None


def test_tab_and_newlines_stay_allowed_in_strings(client: TestClient) -> None:
    body = json.dumps(careplan(description="Linje 1\nLinje 2\r\n\tindrykket"))
    assert client.post("/fhir/CarePlan", content=body, headers=FHIR_JSON).status_code == 201


def test_nul_inside_a_transaction_entry_is_400_naming_the_entry(client: TestClient) -> None:
    bundle = json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
                {"resource": patient(family="X"), "request": {"method": "POST", "url": "Patient"}},
            ],
        }
    ).replace('"X"', '"X\\u0000"')
    issue = _issue(client.post("/fhir", content=bundle, headers=FHIR_JSON))
    assert issue["expression"] == ["Bundle.entry[1].resource.name[0].family"]
    assert _stored(client, "Patient") == 0


def test_nul_brought_in_by_a_json_patch_is_400(client: TestClient) -> None:
    pid = _created(client)
    body = b'[{"op": "replace", "path": "/name/0/family", "value": "a\\u0000"}]'
    direct = client.patch(
        f"/fhir/Patient/{pid}",
        content=body,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert _issue(direct)["expression"] == ["[0].value"]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(body).decode(),
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{pid}"}}],
    }
    issue = _issue(client.post("/fhir", json=bundle, headers=FHIR_JSON))
    assert issue["expression"] == ["Bundle.entry[0].resource.name[0].family"]
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "1"


# -- integers the client sends ----------------------------------------------------------


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A3", "1.5", "-1", "abc"])
def test_a_version_id_that_is_not_ascii_digits_is_400(client: TestClient, version: str) -> None:
    pid = _created(client)
    issue = _issue(client.get(f"/fhir/Patient/{pid}/_history/{version}"))
    assert issue["expression"] == ["_history"]


@pytest.mark.parametrize("version", [str(2**31), "99999999999", "9" * 5000])
def test_a_version_beyond_any_stored_one_is_404(client: TestClient, version: str) -> None:
    pid = _created(client)
    response = client.get(f"/fhir/Patient/{pid}/_history/{version}")
    assert _issue(response, 404)["code"] == "not-found"


def test_the_largest_version_number_is_an_ordinary_miss(client: TestClient) -> None:
    pid = _created(client)
    assert client.get(f"/fhir/Patient/{pid}/_history/{2**31 - 1}").status_code == 404
    assert client.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200


@pytest.mark.parametrize("count", ["%C2%B2", "%EF%BC%95", "-1", "1e3", " 5"])
def test_count_that_is_not_ascii_digits_is_400(client: TestClient, count: str) -> None:
    assert _issue(client.get(f"/fhir/Patient?_count={count}"))["expression"] == ["_count"]
    pid = _created(client)
    assert _issue(client.get(f"/fhir/Patient/{pid}/_history?_count={count}"))["expression"] == [
        "_count"
    ]


def test_a_huge_count_is_clamped(client: TestClient) -> None:
    _created(client)
    for path in ("/fhir/Patient", "/fhir/Patient/_history"):
        response = client.get(path, params={"_count": "9" * 5000})
        assert response.status_code == 200
        assert len(response.json()["entry"]) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_if_match_beyond_any_version_is_412(client: TestClient, method: str) -> None:
    pid = _created(client)
    response = client.request(
        method,
        f"/fhir/Patient/{pid}",
        content=json.dumps({**patient(), "id": pid}) if method == "PUT" else None,
        headers={**FHIR_JSON, "If-Match": 'W/"99999999999"'},
    )
    assert _issue(response, 412)["expression"] == ["If-Match"]
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200


# -- ambiguous JSON and numbers out of range -------------------------------------------


def test_duplicate_json_keys_are_400_naming_the_path(client: TestClient) -> None:
    top = b'{"resourceType": "Patient", "active": true, "active": false}'
    assert _issue(client.post("/fhir/Patient", content=top, headers=FHIR_JSON))["expression"] == [
        "Patient.active"
    ]
    nested = b'{"resourceType": "Patient", "name": [{"family": "A", "family": "B"}]}'
    issue = _issue(client.post("/fhir/Patient", content=nested, headers=FHIR_JSON))
    assert issue["expression"] == ["Patient.name[0].family"]
    assert _stored(client, "Patient") == 0


def test_duplicate_keys_inside_a_bundle_entry_name_the_entry(client: TestClient) -> None:
    bundle = (
        b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": '
        b'{"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient", '
        b'"gender": "male", "gender": "female"}}]}'
    )
    issue = _issue(client.post("/fhir", content=bundle, headers=FHIR_JSON))
    assert issue["expression"] == ["Bundle.entry[0].resource.gender"]
    assert _stored(client, "Patient") == 0


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_two_entries_with_the_same_full_url_are_400(client: TestClient, kind: str) -> None:
    entry = {
        "fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
        "resource": patient(),
        "request": {"method": "POST", "url": "Patient"},
    }
    other = {"fullUrl": "urn:uuid:1", "resource": patient(), "request": entry["request"]}
    bundle = {"resourceType": "Bundle", "type": kind, "entry": [entry, other, entry]}
    issue = _issue(client.post("/fhir", json=bundle, headers=FHIR_JSON))
    assert issue["expression"] == ["Bundle.entry[2].fullUrl"]
    assert "Bundle.entry[0]" in issue["diagnostics"]
    assert _stored(client, "Patient") == 0


@pytest.mark.parametrize("literal", ["1e-400", "-1e-400", "1e400", "-1e400", "2e308", "NaN"])
def test_decimals_out_of_range_are_400_naming_the_element(client: TestClient, literal: str) -> None:
    body = (
        '{"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"}, '
        '"subject": {"reference": "Patient/p"}, "target": [{"detailQuantity": {"value": '
        + literal
        + "}}]}"
    )
    issue = _issue(client.post("/fhir/Goal", content=body, headers=FHIR_JSON))
    assert issue["expression"] == ["Goal.target[0].detailQuantity.value"]
    assert literal in issue["diagnostics"]
    assert _stored(client, "Goal") == 0


@pytest.mark.parametrize(
    "literal", ["2147483648", "-2147483649", "9223372036854775808", "1" + "0" * 400]
)
def test_integers_out_of_range_are_400_naming_the_element(client: TestClient, literal: str) -> None:
    body = '{"resourceType": "Patient", "multipleBirthInteger": ' + literal + "}"
    issue = _issue(client.post("/fhir/Patient", content=body, headers=FHIR_JSON))
    assert issue["expression"] == ["Patient.multipleBirthInteger"]
    assert _stored(client, "Patient") == 0


def test_small_decimals_and_the_integer_bounds_are_accepted(client: TestClient) -> None:
    body = '{"resourceType": "Patient", "multipleBirthInteger": 2147483647}'
    assert client.post("/fhir/Patient", content=body, headers=FHIR_JSON).status_code == 201
    goal = (
        '{"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"}, '
        '"subject": {"reference": "Patient/p"}, "target": [{"detailQuantity": {"value": 1e-300}}]}'
    )
    assert client.post("/fhir/Goal", content=goal, headers=FHIR_JSON).status_code == 201


def test_a_body_that_is_not_utf8_is_400(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", content=b'{"resourceType": "Pa\xfftient"}', headers=FHIR_JSON
    )
    assert _issue(response)["code"] == "structure"
