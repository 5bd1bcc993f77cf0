"""Create, read, vread, update, delete, history: status codes and headers per R4 http.html."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.resources import careplan, patient

FHIR_JSON = "application/fhir+json"


def _create(client: TestClient, resource: dict, **headers: str):
    return client.post(
        f"/fhir/{resource['resourceType']}",
        json=resource,
        headers={"Content-Type": FHIR_JSON, **headers},
    )


def test_create_assigns_id_and_answers_201_with_location_etag_last_modified(
    client: TestClient,
) -> None:
    response = _create(client, patient())
    assert response.status_code == 201
    body = response.json()
    assert body["id"] and body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z") and len(body["meta"]["lastUpdated"]) == 24
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Content-Type"].startswith(FHIR_JSON)


def test_create_ignores_a_client_supplied_id(client: TestClient) -> None:
    response = _create(client, {**patient(), "id": "mine"})
    assert response.status_code == 201
    assert response.json()["id"] != "mine"


def test_read_returns_current_version_with_etag(client: TestClient) -> None:
    created = _create(client, patient()).json()
    response = client.get(f"/fhir/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["ETag"] == 'W/"1"'
    assert list(response.json())[:3] == ["resourceType", "id", "meta"]


def test_read_unknown_is_404_operation_outcome(client: TestClient) -> None:
    response = client.get("/fhir/Patient/does-not-exist")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


def test_read_with_matching_if_none_match_is_304(client: TestClient) -> None:
    created = _create(client, patient()).json()
    response = client.get(f"/fhir/Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""


def test_update_increments_version_and_vread_returns_each_version(client: TestClient) -> None:
    created = _create(client, patient()).json()
    pid = created["id"]
    changed = {**created, "gender": "other"}
    response = client.put(f"/fhir/Patient/{pid}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["gender"] == "male"
    assert client.get(f"/fhir/Patient/{pid}/_history/2").json()["gender"] == "other"
    assert client.get(f"/fhir/Patient/{pid}/_history/3").status_code == 404


def test_update_as_create_with_client_id_answers_201(client: TestClient) -> None:
    response = client.put("/fhir/Patient/einer-1", json={**patient(), "id": "einer-1"})
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/fhir/Patient/einer-1/_history/1")
    assert client.get("/fhir/Patient/einer-1").status_code == 200


def test_update_with_stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    created = _create(client, patient()).json()
    pid = created["id"]
    assert (
        client.put(f"/fhir/Patient/{pid}", json=created, headers={"If-Match": 'W/"1"'}).status_code
        == 200
    )
    stale = client.put(
        f"/fhir/Patient/{pid}", json={**created, "gender": "female"}, headers={"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_delete_is_logical_read_gives_410_and_history_keeps_the_deleted_version(
    client: TestClient,
) -> None:
    created = _create(client, careplan()).json()
    cid = created["id"]
    response = client.delete(f"/fhir/CarePlan/{cid}")
    assert response.status_code == 204
    assert response.headers["ETag"] == 'W/"2"'
    gone = client.get(f"/fhir/CarePlan/{cid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    history = client.get(f"/fhir/CarePlan/{cid}/_history").json()
    assert history["type"] == "history"
    methods = [(e["request"]["method"], e["response"]["etag"]) for e in history["entry"]]
    assert methods == [("DELETE", 'W/"2"'), ("POST", 'W/"1"')]
    assert "resource" not in history["entry"][0]
    assert client.get(f"/fhir/CarePlan/{cid}/_history/1").status_code == 200
    assert client.get(f"/fhir/CarePlan/{cid}/_history/2").status_code == 410


def test_delete_with_stale_if_match_is_412(client: TestClient) -> None:
    created = _create(client, careplan()).json()
    client.put(f"/fhir/CarePlan/{created['id']}", json=created)
    response = client.delete(f"/fhir/CarePlan/{created['id']}", headers={"If-Match": 'W/"1"'})
    assert response.status_code == 412
    assert client.get(f"/fhir/CarePlan/{created['id']}").status_code == 200


def test_update_after_delete_revives_with_next_version(client: TestClient) -> None:
    created = _create(client, careplan()).json()
    cid = created["id"]
    client.delete(f"/fhir/CarePlan/{cid}")
    response = client.put(f"/fhir/CarePlan/{cid}", json=created)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "3"


def test_type_history_with_count_since_and_paging(client: TestClient) -> None:
    ids = [_create(client, careplan(description=f"plan {i}")).json()["id"] for i in range(5)]
    first = client.get("/fhir/CarePlan/_history", params={"_count": 2}).json()
    assert first["type"] == "history" and len(first["entry"]) == 2
    seen = [e["resource"]["id"] for e in first["entry"]]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while next_url:
        page = client.get(next_url.replace("http://testserver", "")).json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        next_url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert sorted(seen) == sorted(ids)
    newest = first["entry"][0]["resource"]["meta"]["lastUpdated"]
    since = client.get("/fhir/CarePlan/_history", params={"_since": newest}).json()
    assert all(e["resource"]["meta"]["lastUpdated"] >= newest for e in since["entry"])
    assert client.get("/fhir/CarePlan/_history", params={"_since": "yesterday"}).status_code == 400


def test_history_at_returns_the_version_current_at_that_time(client: TestClient) -> None:
    created = _create(client, patient()).json()
    pid = created["id"]
    first_stamp = created["meta"]["lastUpdated"]
    client.put(f"/fhir/Patient/{pid}", json={**created, "gender": "other"})
    at = client.get(f"/fhir/Patient/{pid}/_history", params={"_at": first_stamp}).json()
    assert [e["resource"]["meta"]["versionId"] for e in at["entry"]] == ["1"]


def test_history_of_unknown_instance_is_404(client: TestClient) -> None:
    assert client.get("/fhir/Patient/nope/_history").status_code == 404


def test_tampered_history_cursor_is_400(client: TestClient) -> None:
    for i in range(3):
        _create(client, careplan(description=str(i)))
    page = client.get("/fhir/CarePlan/_history", params={"_count": 1}).json()
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    tampered = next_url[:-3] + ("AAA" if not next_url.endswith("AAA") else "BBB")
    response = client.get(tampered.replace("http://testserver", ""))
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_prefer_return_minimal_and_operation_outcome(client: TestClient) -> None:
    minimal = _create(client, patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["Location"]
    outcome = _create(client, patient(), Prefer="return=OperationOutcome")
    assert outcome.json()["resourceType"] == "OperationOutcome"


def test_auditevent_is_read_only_over_the_api(client: TestClient) -> None:
    event = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2024-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    assert _create(client, event).status_code == 405
    assert client.put("/fhir/AuditEvent/x", json={**event, "id": "x"}).status_code == 405


def test_unknown_resource_type_is_404(client: TestClient) -> None:
    response = client.get("/fhir/Spaceship/1")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
