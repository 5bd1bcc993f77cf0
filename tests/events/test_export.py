"""Bulk Data $export (issue #15 part 5, docs/bulk.md): kick-off, status, manifest, files,
delete; an export holds exactly what the client may see, and belongs to that client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.access.policy import AccessPolicy
from app.fhir.instant import now_utc
from app.interactions.access_setup import ExternalRegistries
from app.main import create_app, export_worker
from app.settings import Settings
from app.storage.audit_log import every_event
from app.storage.engine import create_engine_async
from app.storage.tables import compartment, resource
from app.storage.unit_of_work import Storage
from tests.access.world import (
    FHIR_JSON,
    OTHER_MUNICIPALITY_SOR,
    einer_opt_out,
    ids,
    load_world,
    rule_of,
)
from tests.support.databases import truncate_all
from tests.support.tokens import (
    GITTE_BERGGREN,
    HOSPITAL_SOR,
    MUNICIPALITY_SOR,
    TokenFactory,
    bearer,
)

T = TypeVar("T")
ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
TYPES = ("CarePlan", "Condition", "Patient", "Organization", "Consent", "EpisodeOfCare", "Goal")


def system(tokens: TokenFactory, sor: str = MUNICIPALITY_SOR, **kw: Any) -> dict[str, str]:
    return bearer(tokens.system(sor=sor, scopes=kw.pop("scopes", "system/*.rs"), **kw))


def on_storage(settings: Settings, work: Callable[[Storage], Awaitable[T]]) -> T:
    """Run `work` on a storage of its own (an engine apart from the test app's)."""

    async def go() -> T:
        engine = create_engine_async(settings.database_url)
        try:
            return await work(Storage(engine, base_url=settings.base_url))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def run_worker(settings: Settings, *, clock: datetime | None = None) -> int:
    """One round of an export worker of its own (as `esp-careplans export-worker` runs)."""

    async def work(storage: Storage) -> int:
        worker = export_worker(settings, storage, ExternalRegistries())
        if clock is not None:
            worker._clock = lambda: clock
        return await worker.run_once()

    return on_storage(settings, work)


def kickoff(
    client: TestClient, headers: dict[str, str], path: str = "$export", **params: str
) -> str:
    response = client.get(f"/fhir/{path}", params=params, headers={**ASYNC, **headers})
    assert response.status_code == 202, response.text
    return str(response.headers["Content-Location"])


def export_as(
    client: TestClient,
    headers: dict[str, str],
    settings: Settings,
    path: str = "$export",
    **params: str,
) -> tuple[str, dict[str, Any]]:
    """Kick off, let a worker run the job, and return its id and manifest."""
    url = kickoff(client, headers, path, **params)
    run_worker(settings)
    return url.rsplit("/", 1)[1], manifest_of(client, url, headers)


def status_path(url: str) -> str:
    return url.removeprefix("http://testserver")


def manifest_of(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(status_path(url), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


def exported(
    client: TestClient, manifest: dict[str, Any], headers: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """The resources of every output file, per type (checking each file's count)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        response = client.get(status_path(item["url"]), headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == item["count"]
        assert all(r["resourceType"] == item["type"] for r in lines)
        found.setdefault(item["type"], []).extend(lines)
    return found


def exported_ids(found: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    return {t: {r["id"] for r in rs} for t, rs in found.items()}


def searched_ids(client: TestClient, headers: dict[str, str], rtype: str) -> set[str]:
    bundle = client.get(f"/fhir/{rtype}", params={"_count": "1000"}, headers=headers).json()
    return set(ids(bundle, rtype))


def export_audit(settings: Settings, job: str) -> dict[str, int]:
    """Bulk-export AuditEvents of `job`, counted per patient."""

    async def work(storage: Storage) -> dict[str, int]:
        counts: dict[str, int] = {}
        async with storage.engine.connect() as conn:
            for content in await every_event(conn):
                codes = [c.get("code") for c in content.get("subtype", [])]
                if "bulk-export" not in codes or job not in json.dumps(content):
                    continue
                for entity in content.get("entity", []):
                    ref = entity.get("what", {}).get("reference", "")
                    if ref.startswith("Patient/"):
                        patient = ref.removeprefix("Patient/")
                        counts[patient] = counts.get(patient, 0) + 1
        return counts

    return on_storage(settings, work)


def compartments_of(settings: Settings, found: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The patients whose compartments hold the exported resources."""

    async def work(storage: Storage) -> set[str]:
        patients: set[str] = set()
        async with storage.engine.connect() as conn:
            for rtype, resources in found.items():
                rows = await conn.execute(
                    select(compartment.c.patient_id)
                    .join(resource, resource.c.pk == compartment.c.res_pk)
                    .where(
                        resource.c.res_type == rtype,
                        resource.c.res_id.in_([r["id"] for r in resources]),
                    )
                )
                patients |= {str(row[0]) for row in rows.all()}
        return patients

    return on_storage(settings, work)


def test_kickoff_status_manifest_files_and_delete(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    horsens = system(tokens)
    url = kickoff(bulk, horsens)
    running = bulk.get(status_path(url), headers=horsens)
    assert running.status_code == 202
    assert running.headers["Retry-After"].isdigit()
    assert running.headers["X-Progress"]
    assert run_worker(export_settings) == 1
    manifest = manifest_of(bulk, url, horsens)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["error"] == []
    assert datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00"))
    found = exported(bulk, manifest, horsens)
    assert "gitte-rehab" in exported_ids(found)["CarePlan"]
    job = url.rsplit("/", 1)[1]
    job_dir = export_settings.export_dir / job
    assert sorted(p.name for p in job_dir.iterdir()) == sorted(
        i["url"].rsplit("/", 1)[1] for i in manifest["output"]
    )
    deleted = bulk.delete(status_path(url), headers=horsens)
    assert deleted.status_code == 202
    assert bulk.get(status_path(url), headers=horsens).status_code == 404
    assert not job_dir.exists()
    file_url = status_path(manifest["output"][0]["url"])
    assert bulk.get(file_url, headers=horsens).status_code == 404


def test_an_export_holds_exactly_what_the_client_may_search(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    """Horsens sees Gitte's shared plan, not Einer's (he opted out of sharing with Horsens:
    negativt samtykke), not the hospital's plans it was never shared, nothing of Lars."""
    horsens = system(tokens)
    _, manifest = export_as(bulk, horsens, export_settings)
    found = exported_ids(exported(bulk, manifest, horsens))
    for rtype in TYPES:
        assert found.get(rtype, set()) == searched_ids(bulk, horsens, rtype), rtype
    plans = found["CarePlan"]
    assert "gitte-rehab" in plans
    assert not plans & {"einer-rehab", "einer-other", "gitte-plan", "lars-plan", "lars-hidden"}
    assert "einer-kol" not in found.get("Condition", set())
    # The hospital, which wrote them, gets them (the control: the filter is the policy).
    hospital = system(tokens, sor=HOSPITAL_SOR)
    _, manifest = export_as(bulk, hospital, export_settings)
    mine = exported_ids(exported(bulk, manifest, hospital))
    assert {"einer-rehab", "gitte-plan", "lars-hidden"} <= mine["CarePlan"]


def test_an_unrelated_municipality_exports_no_patient_data(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    odder = system(tokens, sor=OTHER_MUNICIPALITY_SOR)
    job, manifest = export_as(bulk, odder, export_settings, "Patient/$export")
    assert manifest["output"] == []
    assert export_audit(export_settings, job) == {}


def test_one_audit_event_per_patient_in_the_files(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    job, manifest = export_as(bulk, hospital, export_settings, "Patient/$export")
    found = exported(bulk, manifest, hospital)
    patients = compartments_of(export_settings, found)
    assert {"gitte", "einer", "lars"} <= patients
    audited = export_audit(export_settings, job)
    assert audited == dict.fromkeys(patients, 1)
    # Gitte's MinLog shows it.
    gitte = bearer(tokens.citizen(cpr=GITTE_BERGGREN))
    log = bulk.get("/fhir/AuditEvent", params={"_count": "1000"}, headers=gitte).json()
    subtypes = [c["code"] for e in log.get("entry", []) for c in e["resource"].get("subtype", [])]
    assert "bulk-export" in subtypes


def test_another_client_cannot_see_read_or_delete_the_job(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    horsens = system(tokens)
    url = kickoff(bulk, horsens)
    run_worker(export_settings)
    manifest = manifest_of(bulk, url, horsens)
    file_url = status_path(manifest["output"][0]["url"])
    others = [
        system(tokens, sor=OTHER_MUNICIPALITY_SOR),
        system(tokens, client_id="another-horsens-client"),  # same organisation
        system(tokens, sor=HOSPITAL_SOR),
    ]
    for other in others:
        assert bulk.get(status_path(url), headers=other).status_code == 404
        assert bulk.get(file_url, headers=other).status_code == 404
        assert bulk.delete(status_path(url), headers=other).status_code == 404
    assert bulk.get(file_url).status_code == 401  # no token at all
    # A file not in the manifest is not served, whatever its name.
    job = url.rsplit("/", 1)[1]
    for name in ("..%2F..%2Fetc%2Fpasswd", "CarePlan.ndjson.part", "x"):
        assert bulk.get(f"/fhir/$export-file/{job}/{name}", headers=horsens).status_code == 404
    assert bulk.get(file_url, headers=horsens).status_code == 200


@pytest.mark.parametrize(
    ("params", "headers", "expression"),
    [
        ({}, {"Accept": "application/fhir+json"}, "Prefer"),
        ({}, {"Prefer": "respond-async", "Accept": "text/csv"}, "Accept"),
        ({"_outputFormat": "text/csv"}, ASYNC, "_outputFormat"),
        ({"_type": "Foo"}, ASYNC, "_type"),
        ({"_type": "Subscription"}, ASYNC, "_type"),
        ({"_since": "yesterday"}, ASYNC, "_since"),
        ({"_typeFilter": "CarePlan?bogus=1"}, ASYNC, "_typeFilter"),
        ({"_typeFilter": "CarePlan?_include=CarePlan:subject"}, ASYNC, "_typeFilter"),
        ({"_typeFilter": "CarePlan"}, ASYNC, "_typeFilter"),
        ({"_type": "Goal", "_typeFilter": "CarePlan?status=active"}, ASYNC, "_typeFilter"),
        ({"_typeFilter": "CarePlan?status=active,CarePlan?_id=x"}, ASYNC, "_typeFilter"),
        ({"_elements": "id"}, ASYNC, "_elements"),
        ({"patient": "Patient/gitte"}, ASYNC, "patient"),
    ],
)
def test_bad_kickoffs_are_400_naming_the_parameter(
    bulk: TestClient,
    tokens: TokenFactory,
    params: dict[str, str],
    headers: dict[str, str],
    expression: str,
) -> None:
    response = bulk.get("/fhir/$export", params=params, headers={**headers, **system(tokens)})
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]


def test_lenient_handling_ignores_unsupported_parameters(
    bulk: TestClient, tokens: TokenFactory
) -> None:
    headers = {**ASYNC, "Prefer": "respond-async, handling=lenient", **system(tokens)}
    response = bulk.get("/fhir/$export", params={"_elements": "id"}, headers=headers)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("accept", ["*/*", "application/json", None])
def test_a_kickoff_whose_accept_admits_fhir_json_is_queued(
    bulk: TestClient, tokens: TokenFactory, accept: str | None
) -> None:
    """export.html#headers: without Accept: application/fhir+json the server MAY proceed."""
    headers = {"Prefer": "respond-async", **system(tokens)}
    if accept is not None:
        headers["Accept"] = accept
    response = bulk.get("/fhir/$export", headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["Content-Location"]


@pytest.mark.parametrize("body", [b"null", b"[]", b"1", b'{"resourceType": "Patient"}'])
def test_a_post_kickoff_body_that_is_no_parameters_is_refused(
    bulk: TestClient, tokens: TokenFactory, body: bytes
) -> None:
    headers = {**ASYNC, **system(tokens), "Content-Type": "application/fhir+json"}
    response = bulk.post("/fhir/$export", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Parameters"]


def test_a_bundle_entry_cannot_start_an_export(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    """Kick-offs are served by their own routes only: a batch entry reaches no job."""
    entries = [
        {"request": {"method": method, "url": url}}
        for method in ("GET", "POST")
        for url in ("$export", "Patient/$export")
    ]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    response = bulk.post("/fhir", json=bundle, headers={**FHIR_JSON, **system(tokens)})
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert all(s.startswith("4") for s in statuses), statuses  # refused, never 202
    assert run_worker(export_settings) == 0  # nothing was queued


def test_head_on_a_kickoff_starts_no_export(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    horsens = system(tokens)
    assert bulk.head("/fhir/$export", headers={**ASYNC, **horsens}).status_code == 405
    assert run_worker(export_settings) == 0  # nothing was queued


def test_group_export_is_refused_there_is_no_group(bulk: TestClient, tokens: TokenFactory) -> None:
    response = bulk.get("/fhir/Group/g1/$export", headers={**ASYNC, **system(tokens)})
    assert response.status_code == 404
    assert "Group" in response.json()["issue"][0]["diagnostics"]


def test_only_backend_services_tokens_export(bulk: TestClient, tokens: TokenFactory) -> None:
    for token in (
        tokens.professional(sor=MUNICIPALITY_SOR),
        tokens.citizen(cpr=GITTE_BERGGREN),
    ):
        response = bulk.get("/fhir/$export", headers={**ASYNC, **bearer(token)})
        assert response.status_code == 403, response.text
        assert rule_of(response) == "bulk-export-backend-services-only"
    assert bulk.get("/fhir/$export", headers=ASYNC).status_code == 401


def test_scopes_narrow_what_is_exported(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    narrow = system(tokens, scopes="system/CarePlan.rs")
    refused = bulk.get("/fhir/$export", params={"_type": "Condition"}, headers={**ASYNC, **narrow})
    assert refused.status_code == 403
    assert rule_of(refused) == "smart-scope"
    write_only = system(tokens, scopes="system/CarePlan.c")
    assert bulk.get("/fhir/$export", headers={**ASYNC, **write_only}).status_code == 403
    _, manifest = export_as(bulk, narrow, export_settings)
    assert [item["type"] for item in manifest["output"]] == ["CarePlan"]


def test_type_filter_and_since_select_like_a_search(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    url = kickoff(
        bulk, hospital, _type="CarePlan,Patient", _typeFilter="CarePlan?_id=gitte-rehab,einer-rehab"
    )
    later = now_utc() + timedelta(hours=1)
    since = kickoff(bulk, hospital, _since=later.isoformat().replace("+00:00", "Z"))
    run_worker(export_settings)
    run_worker(export_settings)
    found = exported_ids(exported(bulk, manifest_of(bulk, url, hospital), hospital))
    assert found["CarePlan"] == {"gitte-rehab", "einer-rehab"}
    assert found["Patient"] == searched_ids(bulk, hospital, "Patient")
    assert manifest_of(bulk, since, hospital)["output"] == []


def test_post_kickoff_takes_parameters(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "CarePlan"},
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
        ],
    }
    response = bulk.post("/fhir/$export", json=body, headers={**ASYNC, **FHIR_JSON, **hospital})
    assert response.status_code == 202, response.text
    run_worker(export_settings)
    manifest = manifest_of(bulk, response.headers["Content-Location"], hospital)
    assert [item["type"] for item in manifest["output"]] == ["CarePlan"]
    bad = {"resourceType": "Parameters", "parameter": [{"name": "_since", "valueInteger": 1}]}
    refused = bulk.post("/fhir/$export", json=bad, headers={**ASYNC, **FHIR_JSON, **hospital})
    assert refused.status_code == 400


def test_expired_jobs_and_files_are_deleted(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    horsens = system(tokens)
    job, _ = export_as(bulk, horsens, export_settings)
    job_dir = export_settings.export_dir / job
    assert job_dir.is_dir()
    assert run_worker(export_settings, clock=now_utc() + timedelta(hours=23)) == 0
    assert job_dir.is_dir()  # still within ESP_EXPORT_RETENTION_HOURS (24)
    run_worker(export_settings, clock=now_utc() + timedelta(hours=25))
    assert not job_dir.exists()
    assert bulk.get(f"/fhir/$export-status/{job}", headers=horsens).status_code == 404


def test_an_opt_out_written_after_the_kickoff_keeps_the_data_out(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    """The job reads under the client's policy when it runs, not as it was at kick-off."""
    horsens = system(tokens)
    url = kickoff(bulk, horsens, _type="CarePlan")
    gitte = bearer(tokens.citizen(cpr=GITTE_BERGGREN, scopes="patient/*.rs patient/Consent.cu"))
    opt_out = {**einer_opt_out(), "patient": {"reference": "Patient/gitte"}}
    opt_out.pop("id")
    written = bulk.post("/fhir/Consent", json=opt_out, headers={**gitte, **FHIR_JSON})
    assert written.status_code == 201, written.text
    run_worker(export_settings)
    found = exported_ids(exported(bulk, manifest_of(bulk, url, horsens), horsens))
    assert "gitte-rehab" not in found.get("CarePlan", set())
    assert export_audit(export_settings, url.rsplit("/", 1)[1]).get("gitte") is None


def test_serve_runs_the_export_worker_in_development(
    export_settings: Settings, tokens: TokenFactory
) -> None:
    """`serve` (here: the app's lifespan) runs queued jobs itself, like deliveries."""
    settings = export_settings.model_copy(
        update={"delivery_in_serve": True, "export_poll_seconds": 0.05}
    )
    truncate_all(settings.database_url)
    load_world(settings)
    app = create_app(settings, auth=tokens.auth_service())
    hospital = system(tokens, sor=HOSPITAL_SOR)
    with TestClient(app, base_url="http://testserver") as client:
        url = kickoff(client, hospital, _type="Patient")
        deadline = time.monotonic() + 60
        while client.get(status_path(url), headers=hospital).status_code == 202:
            assert time.monotonic() < deadline, "the export never completed"
            time.sleep(0.1)
        found = exported_ids(exported(client, manifest_of(client, url, hospital), hospital))
        assert found["Patient"] == searched_ids(client, hospital, "Patient")


def test_metadata_advertises_the_export_operations(bulk: TestClient) -> None:
    rest = bulk.get("/fhir/metadata").json()["rest"][0]
    assert "export" in [op["name"] for op in rest["operation"]]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {op["name"]: op["definition"] for op in patient["operation"]}["export"] == (
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
    )


def test_the_export_ledger_is_refused_to_any_principal_but_the_services_own(
    export_settings: Settings, tokens: TokenFactory
) -> None:
    client = AccessPolicy(tokens.principal(tokens.system_claims(scopes="system/*.rs")))

    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(client, write=False) as repo:
            with pytest.raises(PermissionError):
                repo.export_ledger  # noqa: B018 - the property is the check

    on_storage(export_settings, work)
