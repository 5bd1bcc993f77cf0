"""Every parameter type and modifier, positive and negative, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.outcome import FhirError
from tests.search.conftest import Store
from tests.search.data import CPR, DISCHARGE, REHAB, SCT, SOR, V2, ids, load, search

CASES: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    # token
    ("CarePlan", [("status", "active")], ["cp1", "cp3"]),
    ("CarePlan", [("status", "active,draft")], ["cp1", "cp3", "cp4"]),
    ("CarePlan", [("status", "active"), ("status", "draft")], []),  # repeated = AND
    ("CarePlan", [("category", f"{SCT}|{REHAB}")], ["cp1", "cp3", "cp4"]),
    ("CarePlan", [("category", f"urn:other|{REHAB}")], []),
    ("CarePlan", [("category", DISCHARGE)], ["cp2"]),
    ("CarePlan", [("category", f"{SCT}|")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("category", f"|{REHAB}")], []),  # the coding has a system
    ("CarePlan", [("status", "|active")], ["cp1", "cp3"]),  # code elements carry no system
    ("CarePlan", [("status:not", "active")], ["cp2", "cp4"]),
    # a code element's system is the one its binding implies (R4 search.html#token)
    ("CarePlan", [("status", "http://hl7.org/fhir/request-status|active")], ["cp1", "cp3"]),
    ("CarePlan", [("status", "urn:other|active")], []),
    ("CarePlan", [("status", "urn:other|active,draft")], ["cp4"]),
    ("CarePlan", [("status", "http://hl7.org/fhir/request-status|")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("status:not", "urn:other|active")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("category:text", "genoptræn")], ["cp1", "cp3", "cp4"]),
    ("CarePlan", [("category:text", "GENOPTRÆN")], ["cp1", "cp3", "cp4"]),
    ("CarePlan", [("category:text", "plan")], []),  # :text is starts-with
    ("CarePlan", [("identifier", "urn:plan|cp-1")], ["cp1"]),
    ("CarePlan", [("identifier", "cp-2")], []),
    ("CarePlan", [("identifier:of-type", f"{V2}|FILL|cp-1")], ["cp1"]),
    ("CarePlan", [("identifier:of-type", f"{V2}|MR|cp-1")], []),
    ("CarePlan", [("identifier:text", "fylde")], ["cp1"]),
    ("CarePlan", [("identifier:missing", "true")], ["cp2", "cp3", "cp4"]),
    ("CarePlan", [("identifier:missing", "false")], ["cp1"]),
    ("CarePlan", [("activity-code:text", "gang")], ["cp1"]),
    ("Patient", [("identifier", f"{CPR}|0505159995")], ["p1"]),
    ("Patient", [("gender", "female")], ["p2"]),
    ("Patient", [("active", "true")], ["p1"]),
    ("Patient", [("active", "false")], ["p2"]),
    ("Patient", [("active:missing", "true")], ["p3"]),
    ("Patient", [("deceased", "true")], ["p2"]),
    ("Patient", [("deceased", "false")], ["p1", "p3"]),
    ("Patient", [("_tag", "urn:test|vip")], ["p3"]),
    ("Patient", [("_tag:not", "urn:test|vip")], ["p1", "p2"]),
    ("Patient", [("_id", "p1,p3")], ["p1", "p3"]),
    ("Patient", [("_id", "nope")], []),
    ("Condition", [("clinical-status", "active")], ["cond1"]),
    ("Goal", [("lifecycle-status", "active")], ["g1"]),
    # string
    ("Patient", [("family", "sør")], ["p1"]),
    ("Patient", [("family", "SØRENSEN")], ["p1"]),
    ("Patient", [("family", "sor")], []),  # ø is a letter of its own
    ("Patient", [("given", "jorgen")], []),
    ("Patient", [("given", "JÖRGEN")], ["p1"]),  # ö folds to ø (DS 377)
    ("Patient", [("name", "åse")], ["p2"]),
    ("Patient", [("name", "ase")], []),
    ("Patient", [("name", "ren")], []),  # starts-with, not contains
    ("Patient", [("name:contains", "ren")], ["p1"]),
    ("Patient", [("name:exact", "Sørensen")], ["p1"]),
    ("Patient", [("name:exact", "sørensen")], []),
    ("Patient", [("family", "hansen,ærø")], ["p2", "p3"]),
    ("Organization", [("name", "lægerne")], ["gp1"]),
    ("Organization", [("name", "aarhus kom")], ["org1"]),
    # date
    ("Patient", [("birthdate", "1959-05-05")], ["p1"]),
    ("Patient", [("birthdate", "1959")], ["p1"]),
    ("Patient", [("birthdate", "1959-05")], ["p1"]),
    ("Patient", [("birthdate", "1959-05-06")], []),
    ("Patient", [("birthdate", "ne1959-05-05")], ["p2", "p3"]),
    ("Patient", [("birthdate", "lt1985-12-12")], ["p1"]),
    ("Patient", [("birthdate", "le1985-12-12")], ["p1", "p2"]),
    ("Patient", [("birthdate", "gt1985-12-12")], ["p3"]),
    ("Patient", [("birthdate", "ge1985-12-12")], ["p2", "p3"]),
    ("Patient", [("birthdate", "ge1985"), ("birthdate", "lt2000")], ["p2"]),
    ("Patient", [("birthdate", "ap1959-05-01")], ["p1"]),
    ("Patient", [("birthdate", "eb1960")], ["p1"]),
    ("Patient", [("birthdate", "sa2000-12-31")], ["p3"]),
    ("Patient", [("death-date", "2023-01-01")], ["p2"]),
    ("Patient", [("death-date", "2023-01-01T11:00:00Z")], ["p2"]),  # that second, in UTC
    ("Patient", [("death-date", "2023-01-01T12:00:00Z")], []),
    ("CarePlan", [("date", "2024-06")], []),  # the plan is not contained in June
    ("CarePlan", [("date", "ge2024-06-01")], ["cp1", "cp3"]),  # open period counts as above
    ("CarePlan", [("date", "lt2024-01-01")], ["cp2"]),
    ("CarePlan", [("date", "sa2024-06-01")], ["cp3"]),
    ("CarePlan", [("date", "eb2024-01-01")], ["cp2"]),
    ("CarePlan", [("date:missing", "true")], ["cp4"]),
    ("CarePlan", [("activity-date", "2024-05-02")], []),  # open-ended period
    ("CarePlan", [("activity-date", "gt2024-05-01")], ["cp1"]),
    ("Condition", [("onset-date", "2024-04-20")], ["cond1"]),
    ("Condition", [("onset-date", "2024-04-20T06:30:00Z")], ["cond1"]),
    ("Condition", [("onset-date", "2024-04-20T08:30:00")], ["cond1"]),  # no zone: Danish time
    ("Goal", [("target-date", "le2024-12-01")], ["g1"]),
    ("Provenance", [("recorded", "2024-05-01T10:00:00Z")], ["prov1"]),
    # reference
    ("CarePlan", [("patient", "p1")], ["cp1", "cp2"]),
    ("CarePlan", [("patient", "Patient/p1")], ["cp1", "cp2"]),
    ("CarePlan", [("patient", "http://testserver/fhir/Patient/p2")], ["cp3"]),
    ("CarePlan", [("subject", "p2")], ["cp3"]),
    ("CarePlan", [("subject:Patient", "p2")], ["cp3"]),
    ("CarePlan", [("subject", "Patient/p1,Patient/p2")], ["cp1", "cp2", "cp3"]),
    ("CarePlan", [("patient", "Patient/nope")], []),
    ("CarePlan", [("author", "Organization/org1")], ["cp1"]),
    ("CarePlan", [("author:identifier", f"{SOR}|123456")], ["cp4"]),
    ("CarePlan", [("author:identifier", "urn:other|123456")], []),
    ("CarePlan", [("author:missing", "true")], ["cp2", "cp3"]),
    ("CarePlan", [("based-on", "cp1")], ["cp2"]),
    ("CarePlan", [("goal", "Goal/g1")], ["cp1"]),
    ("CarePlan", [("condition", "cond1")], ["cp1"]),
    ("CarePlan", [("performer", "Practitioner/pr1")], ["cp1"]),
    ("CarePlan", [("instantiates-canonical", "http://example.dk/PlanDefinition/rehab")], ["cp1"]),
    (
        "CarePlan",
        [("instantiates-canonical", "http://example.dk/PlanDefinition/rehab|1.0")],
        ["cp1"],
    ),
    ("CarePlan", [("instantiates-canonical", "http://example.dk/PlanDefinition/other")], []),
    ("Patient", [("general-practitioner", "Organization/gp1")], ["p1"]),
    ("Organization", [("partof", "org1")], ["gp1"]),
    ("Provenance", [("target", "CarePlan/cp1")], ["prov1"]),
    ("Provenance", [("target", "CarePlan/cp2")], []),
    # uri
    ("CarePlan", [("_profile", "http://example.dk/StructureDefinition/rehab-plan")], ["cp1"]),
    ("CarePlan", [("_profile", "http://example.dk/StructureDefinition/rehab")], []),
    ("CarePlan", [("_profile:below", "http://example.dk/StructureDefinition/")], ["cp1"]),
    ("CarePlan", [("_source", "urn:system:kommune")], ["cp1"]),
    ("CarePlan", [("_source:missing", "true")], ["cp2", "cp3", "cp4"]),
    # _lastUpdated: the store stamps one second apart from 2024-01-01T00:00:01Z
    ("Organization", [("_lastUpdated", "2024-01-01T00:00:01Z")], ["org1"]),
    ("Organization", [("_lastUpdated", "gt2024-01-01T00:00:01Z")], ["gp1"]),
    ("Organization", [("_lastUpdated", "le2024-01-01T00:00:01Z")], ["org1"]),
    ("Organization", [("_lastUpdated", "lt2024-01-01T00:00:01Z")], []),
    ("Organization", [("_lastUpdated", "2024-01-01")], ["gp1", "org1"]),
    # chains and _has
    ("CarePlan", [("patient.identifier", f"{CPR}|0505159995")], ["cp1", "cp2"]),
    (
        "CarePlan",
        [("patient.identifier", f"{CPR}|0505159995"), ("category", REHAB), ("status", "active")],
        ["cp1"],
    ),
    ("CarePlan", [("subject:Patient.birthdate", "1985-12-12")], ["cp3"]),
    ("CarePlan", [("subject:Patient.name", "ærø")], ["cp3"]),
    ("CarePlan", [("patient.general-practitioner.name", "lægerne")], ["cp1", "cp2"]),
    ("CarePlan", [("patient.general-practitioner.identifier", f"{SOR}|000000")], []),
    (
        "CarePlan",
        [("patient.organization:Organization.identifier", f"{SOR}|123456")],
        ["cp1", "cp2"],
    ),
    ("Patient", [("_has:CarePlan:patient:category", DISCHARGE)], ["p1"]),
    ("Patient", [("_has:CarePlan:patient:category", REHAB)], ["p1", "p2", "p3"]),
    ("Patient", [("_has:CarePlan:patient:status", "draft")], ["p3"]),
    ("Patient", [("_has:Goal:patient:lifecycle-status", "active")], ["p1"]),
    (
        "Patient",
        [("_has:CarePlan:patient:_has:Provenance:target:agent", "Practitioner/pr1")],
        ["p1"],
    ),
    ("Organization", [("_has:Patient:organization:identifier", f"{CPR}|0505159995")], ["org1"]),
]


@pytest.mark.parametrize(("rtype", "params", "expected"), CASES, ids=lambda v: str(v))
async def test_parameter(
    engine: AsyncEngine,
    store: Store,
    rtype: str,
    params: list[tuple[str, str]],
    expected: list[str],
) -> None:
    await load(store)
    assert ids(await search(engine, [rtype], params)) == expected


async def test_deleted_resources_do_not_match(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    await store.delete("CarePlan/cp3")
    assert ids(await search(engine, ["CarePlan"], [("category", REHAB)])) == ["cp1", "cp4"]
    assert ids(await search(engine, ["Patient"], [("_has:CarePlan:patient:status", "active")])) == [
        "p1"
    ]


async def test_update_replaces_index_rows(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    await store.put(
        {
            "resourceType": "CarePlan",
            "id": "cp4",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p2"},
        }
    )
    assert ids(await search(engine, ["CarePlan"], [("status", "draft")])) == []
    assert ids(await search(engine, ["CarePlan"], [("patient", "p2")])) == ["cp3", "cp4"]
    assert ids(await search(engine, ["CarePlan"], [("category", REHAB)])) == ["cp1", "cp3"]


INJECTIONS = [
    "'; DROP TABLE resource; --",
    "x' OR '1'='1",
    '" OR 1=1 --',
    "%",
    "_",
    "\\",
    "%25",
    "*",
    "1) OR (1=1",
    "Patient/p1' OR 'a'='a",
]
INJECTED_PARAMS = [
    ("CarePlan", "status"),
    ("CarePlan", "category"),
    ("Patient", "name"),
    ("Patient", "family:exact"),
    ("Patient", "name:contains"),
    ("CarePlan", "date"),
    ("CarePlan", "patient"),
    ("CarePlan", "author:identifier"),
    ("CarePlan", "_profile"),
    ("CarePlan", "_profile:below"),
    ("CarePlan", "patient.name"),
    ("Patient", "_has:CarePlan:patient:status"),
    ("CarePlan", "_id"),
    ("CarePlan", "_lastUpdated"),
    ("CarePlan", "_sort"),
    ("CarePlan", "_include"),
    ("CarePlan", "category:text"),
]


@pytest.mark.parametrize(("rtype", "name"), INJECTED_PARAMS)
async def test_injection_is_data_not_sql(
    engine: AsyncEngine, store: Store, rtype: str, name: str
) -> None:
    await load(store)
    for value in INJECTIONS:
        try:
            page = await search(engine, [rtype], [(name, value)])
        except FhirError as exc:
            assert exc.status == 400
            continue
        if name not in ("_include", "_sort"):  # these do not filter
            assert ids(page) == [], (name, value)
    # the tables are intact
    assert len(ids(await search(engine, ["CarePlan"], []))) == 4
