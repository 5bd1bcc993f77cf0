"""The operations table (app/fhir/operations.py) is what the server routes, checks and documents."""

from __future__ import annotations

from collections import defaultdict

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.access.scopes import permission_for
from app.audit.events import action_for
from app.fhir.capability import capability_statement
from app.fhir.operations import BY_NAME, OPERATIONS, READ_INTERACTIONS, Operation, routes
from app.fhir.outcome import FhirError
from app.interactions.operations import check_bindings, operation_for
from app.interactions.request import FhirRequest
from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(cursor_secret="x"))


def test_every_fhir_path_takes_exactly_the_methods_of_its_operations(app: FastAPI) -> None:
    by_path: dict[str, set[str]] = defaultdict(set)
    for op, resource_type in routes():
        by_path[op.path(resource_type)].add(op.method)
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    with TestClient(app) as client:
        for path, methods in by_path.items():
            url = "/fhir" + path.replace("{id}", "x").replace("{vid}", "1")
            allowed = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
            allow = ", ".join(m for m in order if m in allowed)
            answer = client.options(url)
            assert answer.status_code == 204, url
            assert answer.headers["allow"] == allow, url
            # RFC 9110 §15.5.6: a method the path does not take is a 405 with the same Allow.
            for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods:
                refused = client.request(method, url)
                assert refused.status_code == 405, (method, url)
                assert refused.headers["allow"] == allow, (method, url)
                assert refused.json()["resourceType"] == "OperationOutcome"


def test_the_openapi_document_lists_exactly_the_table(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    documented = {
        (path, method.upper())
        for path, operations in paths.items()
        if path.startswith("/fhir")
        for method in operations
    } - {("/fhir/metadata", "GET"), ("/fhir/.well-known/smart-configuration", "GET")}
    # The Bulk Data kick-offs the table advertises, and their status and file URLs, are
    # routes of their own in api/export_routes.py (the async request pattern).
    bulk = {
        (path, method.upper())
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "Bulk Data" in operation.get("tags", ())
    }
    advertised = {
        ("/fhir" + op.path(None if op.level == "system" else "Patient"), op.method)
        for op in OPERATIONS
        if op.api_route
    }
    assert advertised and advertised <= bulk
    assert documented - bulk == {("/fhir" + op.path(t), op.method) for op, t in routes()}
    read = paths["/fhir/CarePlan/{id}"]["get"]
    assert {p["name"] for p in read["parameters"]} == {"id"}
    assert set(read["responses"]) == {str(s) for s in sorted(BY_NAME["read"].all_statuses())}


def test_every_operation_has_exactly_one_handler(app: FastAPI) -> None:
    service = app.state.service
    check_bindings({**service.handlers, **service.standalone})
    with pytest.raises(RuntimeError, match="without handler"):
        check_bindings({name: h for name, h in service.handlers.items() if name != "read"})
    with pytest.raises(RuntimeError, match="handlers without"):
        check_bindings({**service.handlers, **service.standalone, "$nothing": service._search})


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_scopes_and_audit_read_the_table(op: Operation) -> None:
    if op.permission is not None:
        assert permission_for(op.interaction) == op.permission
    assert action_for(op.interaction) == op.action


def test_capability_statement_advertises_the_system_operations_of_the_table() -> None:
    rest = capability_statement(base_url="http://x/fhir", version="1", release_date="2026-01-01")[
        "rest"
    ][0]
    assert [i["code"] for i in rest["interaction"]] == [
        "transaction",
        "batch",
        "search-system",
        "history-system",
    ]
    careplan = next(r for r in rest["resource"] if r["type"] == "CarePlan")
    assert careplan["operation"] == [
        {
            "name": "validate",
            "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
        }
    ]
    audit = next(r for r in rest["resource"] if r["type"] == "AuditEvent")
    assert "operation" not in audit  # $validate is offered only where clients may write


@pytest.mark.parametrize(
    ("request_", "name"),
    [
        (FhirRequest("GET"), "search-system"),
        (FhirRequest("HEAD", operation="_history"), "history-system"),
        (FhirRequest("POST"), "transaction"),
        (FhirRequest("GET", "CarePlan"), "search"),
        (FhirRequest("POST", "CarePlan", operation="_search"), "search-post"),
        (FhirRequest("POST", "CarePlan"), "create"),
        # A transaction entry's create carries the id assigned up front.
        (FhirRequest("POST", "CarePlan", "1"), "create"),
        (FhirRequest("PUT", "CarePlan"), "conditional-update"),
        (FhirRequest("PATCH", "CarePlan"), "conditional-patch"),
        (FhirRequest("DELETE", "CarePlan"), "conditional-delete"),
        (FhirRequest("POST", "CarePlan", operation="$validate"), "validate"),
        (FhirRequest("GET", "CarePlan", operation="_history"), "history-type"),
        (FhirRequest("GET", "CarePlan", "1"), "read"),
        (FhirRequest("PUT", "CarePlan", "1"), "update"),
        (FhirRequest("PATCH", "CarePlan", "1"), "patch"),
        (FhirRequest("DELETE", "CarePlan", "1"), "delete"),
        (FhirRequest("GET", "CarePlan", "1", operation="_history"), "history-instance"),
        (FhirRequest("GET", "CarePlan", "1", "2", operation="_history"), "vread"),
    ],
)
def test_a_request_finds_its_operation(request_: FhirRequest, name: str) -> None:
    assert operation_for(request_).name == name


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (FhirRequest("DELETE"), 404),  # no system-level delete
        (FhirRequest("GET", operation="$nothing"), 404),
        (FhirRequest("GET", "Nothing"), 404),
        (FhirRequest("GET", "CarePlan", operation="$validate"), 405),
        (FhirRequest("POST", "CarePlan", "1", operation="$validate"), 405),
        (FhirRequest("POST", "AuditEvent"), 405),  # written only by the server
        (FhirRequest("DELETE", "AuditEvent", "1"), 405),
        (FhirRequest("GET", "CarePlan", "1", "2147483648", operation="_history"), 404),
    ],
)
def test_a_request_without_an_operation_is_refused(request_: FhirRequest, status: int) -> None:
    with pytest.raises(FhirError) as refused:
        operation_for(request_)
    assert refused.value.status == status


def test_the_reads_checked_up_front_are_the_reads_of_the_table() -> None:
    # A refused read is a 403, not an empty answer; writes check their scope themselves.
    assert {
        "read",
        "vread",
        "search-type",
        "search-system",
        "history-instance",
        "history-type",
        "history-system",
    } == READ_INTERACTIONS
