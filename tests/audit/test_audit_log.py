"""The audit log table serves AuditEvents as the generic resource tables did (#14 part 2).

Every golden case is stored as a row and read back: read, vread and history give the
AuditEvent `audit_event` built, with id and meta; and each search over the log's own
columns finds exactly the events that the in-memory matcher (the twin of the generic
index search the log replaces) finds in the rendered resources.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest

from app.access.policy import AccessPolicy
from app.audit.events import audit_entry
from app.fhir.audit_event import RULE_BASE
from app.fhir.outcome import FhirError
from app.fhir.search.memory import matches
from app.fhir.search.parse import parse_search
from app.settings import Settings
from app.storage.repository import HistoryQuery, Repository, SearchLimits
from app.storage.unit_of_work import Storage
from tests.audit.cases import CPR, SOR, WHEN, cases
from tests.audit.test_rendering import GOLDEN
from tests.events.test_export import on_storage
from tests.support.databases import truncate_all

READER = AccessPolicy.internal("audit-test")
KEY = b"audit-test-cursor-key"
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"

QUERIES: list[list[tuple[str, str]]] = [
    [],
    [("patient", "p1")],
    [("patient", "Patient/p2")],
    [("patient", "http://testserver/fhir/Patient/p1")],
    [("patient:missing", "true")],
    [("patient:missing", "false")],
    [("patient:identifier", f"{CPR_SYSTEM}|{CPR}")],
    [("entity", "CarePlan/a")],
    [("entity", "a")],
    [("entity", "Patient/p1"), ("outcome", "4")],
    [("entity:missing", "true")],
    [("entity", "Subscription/s1,Goal/g")],
    [("agent:identifier", f"{SOR_SYSTEM}|{SOR}")],
    [("agent:identifier", f"{CPR_SYSTEM}|{CPR}")],
    [("agent:identifier", CPR)],
    [("agent:identifier", f"{SOR_SYSTEM}|{CPR}")],
    [("agent", "Organization/x")],
    [("agent:missing", "true")],
    [("agent:missing", "false")],
    [("action", "R")],
    [("action", "E,C")],
    [("action:not", "R")],
    [("action", "http://hl7.org/fhir/audit-event-action|R")],
    [("action", "http://example.org|R")],
    [("outcome", "4")],
    [("outcome", "http://hl7.org/fhir/audit-event-outcome|0")],
    [("outcome:not", "0")],
    [("outcome:missing", "true")],
    [("subtype", "read")],
    [("subtype", "http://hl7.org/fhir/restful-interaction|search-type")],
    [("subtype", "|read")],
    [("type", "rest")],
    [("type", "http://terminology.hl7.org/CodeSystem/audit-event-type|rest")],
    [("type", "other")],
    [("policy", RULE_BASE + "opt-out")],
    [("policy", RULE_BASE + "treatment-relation,http://example.org/x")],
    [("policy:missing", "true")],
    [("altid", "ABC12")],
    [("altid:missing", "false")],
    [("date", "2026-11-30")],
    [("date", "gt2026-11-30T12:34:56.789Z")],
    [("date", "ge2026-11-30T12:34:56.789Z")],
    [("date", "lt2026-11-30T12:34:58Z")],
    [("date", "eq2026-11-30T12:34:57.789Z")],
    [("date", "ne2026-11-30T12:34:57.789Z")],
    [("_lastUpdated", "le2026-11-30T12:34:57Z")],
    [("_lastUpdated", "sa2026-11-30T12:34:57Z"), ("subtype", "create")],
    [("date", "ap2026-11-30")],
    [("action", "|R")],
    [("outcome", "|4"), ("subtype", "create,read")],
    [("subtype", "|read")],
    [("type:text", "restful")],
    [("type:text", "other")],
    [("agent-role", "PARAUTH")],
    [("agent-role", "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes|")],
    [("agent-role:text", "forældre")],
    [("agent-role:not", "PARAUTH")],
    [("agent-role:missing", "true")],
    [("entity-role", "1")],
    [("entity-role", "4")],
    [("entity-role", "24")],
    [("entity-role:not", "4")],
    [("entity-role:missing", "true")],
    [("entity-role:text", "query")],
    [("entity-type", "2")],
    [("entity-type", "http://terminology.hl7.org/CodeSystem/audit-entity-type|1")],
    [("entity-type:not", "2")],
    [("entity-type:text", "system")],
    [("_tag", "consent-override")],
    [("_tag", "http://esp-careplans.dk/fhir/CodeSystem/audit-flag|consent-override")],
    [("_tag:missing", "true")],
    [("_tag:text", "værdi")],
    [("agent-name", "x")],
    [("agent-name:missing", "true")],
    [("entity-name:exact", "x")],
    [("address:contains", "1")],
    [("site", "x")],
    [("site:not", "x")],
    [("source", "Device/x")],
    [("source:missing", "false")],
    [("_profile", "http://example.org/p")],
    [("_security:missing", "false")],
    [("_source:below", "http://example.org")],
    [("entity:identifier", "x|y")],
    [("entity:CarePlan", "a")],
    [("altid:not", "ABC12")],
]


def store_cases(settings: Settings) -> dict[str, str]:
    """Every golden case as an audit row (a second apart): case name -> AuditEvent id."""
    truncate_all(settings.database_url)
    built = cases()

    async def work(storage: Storage) -> list[str]:
        async with storage.unit_of_work(READER, write=True) as repo:
            return repo.record_audit(
                [
                    audit_entry(
                        record,
                        principal=principal,
                        recorded=WHEN + timedelta(seconds=i % 3),
                        org_name=org_name,
                        request_id=request_id,
                    )
                    for i, (_, record, principal, org_name, request_id) in enumerate(built)
                ]
            )

    ids = on_storage(settings, work)
    return {name: audit_id for (name, *_), audit_id in zip(built, ids, strict=True)}


def expected(name: str, audit_id: str, i: int) -> dict[str, Any]:
    event = json.loads(json.dumps(GOLDEN[name]))
    stamp = WHEN + timedelta(seconds=i % 3)
    instant = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event["recorded"] = instant
    meta = {**event.pop("meta", {}), "versionId": "1", "lastUpdated": instant}
    return {"resourceType": "AuditEvent", "id": audit_id, "meta": meta, **event}


@pytest.fixture
def stored(settings: Settings) -> dict[str, str]:
    return store_cases(settings)


def test_read_vread_and_history_give_the_event_as_it_was_built(
    settings: Settings, stored: dict[str, str]
) -> None:
    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=False) as repo:
            for i, (name, audit_id) in enumerate(stored.items()):
                want = expected(name, audit_id, i)
                got = await repo.read("AuditEvent", audit_id)
                assert json.dumps(got.content) == json.dumps(want), name
                assert (got.version_id, got.deleted, got.pk < 0) == (1, False, True)
                assert (await repo.vread("AuditEvent", audit_id, 1)).content == want
                with pytest.raises(FhirError) as second:
                    await repo.vread("AuditEvent", audit_id, 2)
                assert second.value.status == 404
                history = await repo.history(
                    HistoryQuery(resource_type="AuditEvent", resource_id=audit_id)
                )
                assert [h.content for h in history] == [want]
                patients = (await repo.compartments([got.pk])).get(got.pk, set())
                named = [e.get("what", {}).get("reference", "") for e in want.get("entity", [])]
                assert patients == {
                    r.removeprefix("Patient/") for r in named if r.startswith("Patient/")
                }, name
            with pytest.raises(FhirError) as unknown:
                await repo.read("AuditEvent", "no-such-event")
            assert unknown.value.status == 404

    on_storage(settings, work)


async def _search_ids(repo: Repository, params: list[tuple[str, str]]) -> list[str]:
    request = parse_search(["AuditEvent"], [*params, ("_count", "1000")], base_url=repo.base_url)
    page = await repo.search(request, cursor=None, cursor_key=KEY, limits=SearchLimits())
    assert page.next_cursor is None
    return [row.res_id for row in page.matches]


def test_every_search_finds_what_the_generic_index_search_found(
    settings: Settings, stored: dict[str, str]
) -> None:
    contents = {
        audit_id: expected(name, audit_id, i) for i, (name, audit_id) in enumerate(stored.items())
    }

    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=False) as repo:
            for params in QUERIES:
                request = parse_search(["AuditEvent"], params, base_url=repo.base_url)
                criteria = request.criteria_for("AuditEvent")
                want = {i for i, c in contents.items() if matches(c, criteria)}
                got = await _search_ids(repo, params)
                assert len(got) == len(set(got))
                assert set(got) == want, params
            assert await _search_ids(repo, [("_id", next(iter(contents)))]) == [
                next(iter(contents))
            ]

    on_storage(settings, work)


def test_sorting_paging_and_totals(settings: Settings, stored: dict[str, str]) -> None:
    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=False) as repo:
            request = parse_search(
                ["AuditEvent"], [("_sort", "-date"), ("_count", "7")], base_url=repo.base_url
            )
            seen: list[tuple[str, Any]] = []
            cursor = None
            while True:
                page = await repo.search(
                    request, cursor=cursor, cursor_key=KEY, limits=SearchLimits()
                )
                seen.extend((row.res_id, row.last_updated) for row in page.matches)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert len(seen) == len(stored) == len({i for i, _ in seen})
            stamps = [when for _, when in seen]
            assert stamps == sorted(stamps, reverse=True)
            for sort, key in (("outcome,-date", "outcome"), ("-altid", "altid")):
                ordered = parse_search(
                    ["AuditEvent"], [("_sort", sort), ("_count", "5")], base_url=repo.base_url
                )
                values: list[Any] = []
                cursor = None
                while True:
                    page = await repo.search(
                        ordered, cursor=cursor, cursor_key=KEY, limits=SearchLimits()
                    )
                    for row in page.matches:
                        agents = row.content.get("agent", [])
                        found = [a.get(key) for a in agents if a.get(key)]
                        values.append(
                            row.content[key] if key == "outcome" else (found or [None])[0]
                        )
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                assert len(values) == len(stored)
                present = [v for v in values if v is not None]
                assert values == present + [None] * (len(values) - len(present)), sort
                assert present == sorted(present, reverse=sort.startswith("-")), sort
            counted = parse_search(
                ["AuditEvent"], [("outcome", "4"), ("_summary", "count")], base_url=repo.base_url
            )
            page = await repo.search(counted, cursor=None, cursor_key=KEY, limits=SearchLimits())
            refused = [n for n in stored if GOLDEN[n]["outcome"] == "4"]
            assert page.total == len(refused) and not page.matches

    on_storage(settings, work)


@pytest.mark.parametrize(
    "params",
    [
        [("patient.identifier", "x")],
        [("entity:CarePlan.status", "active")],
        [("_has:Provenance:target:agent", "x")],
        [("subtype:of-type", "a|b|c")],
        [("_sort", "entity")],
    ],
)
def test_what_the_log_cannot_answer_is_a_400_not_a_wrong_answer(
    settings: Settings, stored: dict[str, str], params: list[tuple[str, str]]
) -> None:
    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=False) as repo:
            with pytest.raises(FhirError) as refused:
                await _search_ids(repo, params)
            assert refused.value.status == 400

    on_storage(settings, work)


def _pages(
    repo: Repository, types: list[str], params: list[tuple[str, str]], compartment: str | None
) -> Awaitable[list[str]]:
    from dataclasses import replace

    async def go() -> list[str]:
        request = parse_search(types, params, base_url=repo.base_url)
        request = replace(request, compartment=compartment)
        found: list[str] = []
        cursor = None
        while True:
            page = await repo.search(request, cursor=cursor, cursor_key=KEY, limits=SearchLimits())
            found.extend(f"{row.res_type}/{row.res_id}" for row in page.matches)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    return go()


def test_searches_and_history_over_several_types_take_the_log_in(
    settings: Settings, stored: dict[str, str]
) -> None:
    """$everything and `_type=` searches page through resources and AuditEvents as one
    result; system history merges them newest first."""
    contents = {
        audit_id: expected(name, audit_id, i) for i, (name, audit_id) in enumerate(stored.items())
    }
    naming_p1 = {
        f"AuditEvent/{i}"
        for i, c in contents.items()
        if any(e.get("what", {}).get("reference") == "Patient/p1" for e in c.get("entity", []))
    }

    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=True) as repo:
            await repo.create({"resourceType": "Patient"}, resource_id="p1")
            await repo.create({"resourceType": "Patient"}, resource_id="p2")
        async with storage.unit_of_work(READER, write=False) as repo:
            for params in ([("_count", "5")], [("_count", "4"), ("_sort", "-_lastUpdated")]):
                everything = await _pages(repo, ["Patient", "AuditEvent"], params, "p1")
                assert len(everything) == len(set(everything))
                assert set(everything) == {"Patient/p1", *naming_p1}, params
            every = await _pages(repo, ["Patient", "AuditEvent"], [("_count", "9")], None)
            assert set(every) == {
                "Patient/p1",
                "Patient/p2",
                *(f"AuditEvent/{i}" for i in contents),
            }
            recent = await _pages(
                repo,
                ["Patient", "AuditEvent"],
                [("_count", "9"), ("_lastUpdated", "ge2026-11-30T12:34:58Z")],
                None,
            )
            assert set(recent) == {
                f"AuditEvent/{i}" for i, c in contents.items() if c["recorded"].endswith("58.789Z")
            } | {"Patient/p1", "Patient/p2"}
            history: list[str] = []
            after = None
            while True:
                rows = await repo.history(HistoryQuery(count=10, after=after))
                page = rows[:10]
                history.extend(r.reference for r in page)
                stamps = [r.last_updated for r in page]
                assert stamps == sorted(stamps, reverse=True)
                if len(rows) <= 10:
                    break
                after = (page[-1].last_updated, page[-1].pk, page[-1].version_id)
            assert len(history) == len(set(history))
            assert set(history) == set(every)

    on_storage(settings, work)


def test_includes_and_revincludes_of_audit_events(
    settings: Settings, stored: dict[str, str]
) -> None:
    contents = {
        audit_id: expected(name, audit_id, i) for i, (name, audit_id) in enumerate(stored.items())
    }

    def naming(reference: str, patient_only: bool = False) -> set[str]:
        return {
            f"AuditEvent/{i}"
            for i, c in contents.items()
            for e in c.get("entity", [])
            if e.get("what", {}).get("reference") == reference
            and (not patient_only or reference.startswith("Patient/"))
        }

    async def page(repo: Repository, types: list[str], params: list[tuple[str, str]]) -> Any:
        request = parse_search(types, [*params, ("_count", "1000")], base_url=repo.base_url)
        found = await repo.search(request, cursor=None, cursor_key=KEY, limits=SearchLimits())
        return (
            {f"{r.res_type}/{r.res_id}" for r in found.matches},
            {f"{r.res_type}/{r.res_id}" for r in found.includes},
        )

    async def work(storage: Storage) -> None:
        async with storage.unit_of_work(READER, write=True) as repo:
            await repo.create({"resourceType": "Patient"}, resource_id="p1")
            plan = {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": "Patient/p1"},
            }
            await repo.create(plan, resource_id="a")
        async with storage.unit_of_work(READER, write=False) as repo:
            matches, included = await page(
                repo, ["AuditEvent"], [("entity", "CarePlan/a"), ("_include", "AuditEvent:entity")]
            )
            assert matches == naming("CarePlan/a") and included == {"CarePlan/a", "Patient/p1"}
            matches, included = await page(
                repo, ["AuditEvent"], [("outcome", "8"), ("_include", "AuditEvent:patient")]
            )
            assert included == set()  # the notifications name no patient
            matches, included = await page(
                repo, ["CarePlan"], [("_revinclude", "AuditEvent:entity")]
            )
            assert matches == {"CarePlan/a"} and included == naming("CarePlan/a")
            matches, included = await page(
                repo, ["Patient"], [("_revinclude", "AuditEvent:patient")]
            )
            assert matches == {"Patient/p1"} and included == naming("Patient/p1", True)
            assert included
            matches, included = await page(
                repo,
                ["CarePlan"],
                [("_revinclude", "AuditEvent:entity"), ("_include:iterate", "AuditEvent:patient")],
            )
            assert included == naming("CarePlan/a") | {"Patient/p1"}

    on_storage(settings, work)
