"""One table of searches, run through SQL search on both backends and through the
in-memory matcher: both must give the same ids (R4 search.html, every supported
parameter type, modifier and prefix). Chains and `_has` need other resources: the
in-memory matcher refuses them with a 400 instead of answering differently."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.instant import format_instant
from app.fhir.search.definitions import COMMON, PARAMS
from app.fhir.search.memory import NeedsOtherResources, search_in_memory
from app.fhir.search.model import Filter
from app.fhir.search.parse import parse_search
from app.fhir.search.types import SEARCH_TYPES
from app.storage.search_types import SQL_TYPES
from app.storage.tables import resource, resource_version
from tests.search.conftest import BASE, Store
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
    # token: system|code, |code, system|, code elements' implied systems, :not, :text
    ("CarePlan", [("category", f"{SCT}|{REHAB},{DISCHARGE}")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("category:missing", "false")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("status:not", "active,draft")], ["cp2"]),
    ("CarePlan", [("identifier:text", "FYLDE")], ["cp1"]),
    ("CarePlan", [("identifier", "urn:plan|cp\\,1")], []),  # an escaped comma is data
    ("CarePlan", [("_security:missing", "true")], ["cp1", "cp2", "cp3", "cp4"]),
    ("Patient", [("identifier", "|0505159995")], []),
    ("Patient", [("identifier", f"{CPR}|")], ["p1", "p2", "p3"]),
    ("Patient", [("gender:not", "male")], ["p2"]),
    ("Patient", [("gender", "http://hl7.org/fhir/administrative-gender|female")], ["p2"]),
    ("Patient", [("gender", "urn:other|male,female")], ["p2"]),
    ("Patient", [("gender:not", "urn:other|male")], ["p1", "p2", "p3"]),
    ("Patient", [("_id:not", "p1")], ["p2", "p3"]),
    ("Patient", [("_id:missing", "false")], ["p1", "p2", "p3"]),
    ("Patient", [("_id:missing", "true")], []),
    ("Condition", [("code", "urn:sks|DI639")], ["cond1"]),
    ("Condition", [("code", "urn:sks|di639")], []),  # codes are case-sensitive
    ("Condition", [("code:text", "HJERNE")], ["cond1"]),
    ("Organization", [("type", "govt")], ["org1"]),
    ("Organization", [("type:not", "govt")], ["gp1"]),
    # string: folded starts-with keeping æ ø å, :exact, :contains, :missing
    ("Organization", [("address-city", "århus")], ["org1"]),
    ("Organization", [("address-city", "ÅRHUS C")], ["org1"]),
    ("Organization", [("address-city", "arhus")], []),
    ("Organization", [("address", "rådhus")], ["org1"]),
    ("Organization", [("address:contains", "PLADS")], ["org1"]),
    ("Organization", [("address:exact", "Århus C")], ["org1"]),
    ("Organization", [("address:exact", "århus c")], []),
    ("Organization", [("address:missing", "true")], ["gp1"]),
    ("Organization", [("address", "80")], ["org1"]),  # the postal code is part of it
    ("Patient", [("given:exact", "Jørgen")], ["p1"]),
    ("Patient", [("given:exact", "Jorgen")], []),
    ("Patient", [("name:contains", "ÆR")], ["p2"]),
    ("Patient", [("name", "  sørensen ")], ["p1"]),  # whitespace runs collapse
    ("Patient", [("family", "hansen\\,x")], []),
    ("Practitioner", [("name", "MØLLER")], ["pr1"]),
    ("Practitioner", [("name", "moller")], []),
    # date: every prefix on Periods (cp1 May-Aug 2024, cp2 Jan 2023, cp3 open from
    # 2024-06-15, cp4 none) and on partial dates
    ("CarePlan", [("date", "eq2024")], ["cp1"]),
    ("CarePlan", [("date", "ne2024")], ["cp2", "cp3"]),  # no period: no row to differ
    ("CarePlan", [("date", "gt2024-07")], ["cp1", "cp3"]),
    ("CarePlan", [("date", "lt2024-05")], ["cp2"]),
    ("CarePlan", [("date", "le2024-05")], ["cp2"]),
    ("CarePlan", [("date", "ge2025")], ["cp3"]),
    ("CarePlan", [("date", "sa2023")], ["cp1", "cp3"]),
    ("CarePlan", [("date", "eb2024-05-01")], ["cp2"]),
    ("CarePlan", [("date", "ap2024-06")], ["cp1", "cp3"]),
    ("CarePlan", [("date", "ap2020")], []),
    ("CarePlan", [("date:missing", "false")], ["cp1", "cp2", "cp3"]),
    ("Goal", [("target-date", "2024-12")], ["g1"]),
    ("Goal", [("target-date", "eq2024-12-01T12:00:00Z")], []),  # a day is not in a second
    ("Patient", [("death-date", "ap2023-01-01")], ["p2"]),
    ("Patient", [("death-date", "ne2023-01-01")], []),
    ("Patient", [("death-date:missing", "true")], ["p1", "p3"]),
    ("Patient", [("birthdate:missing", "false")], ["p1", "p2", "p3"]),
    ("Organization", [("_lastUpdated", "ne2024-01-01T00:00:01Z")], ["gp1"]),
    ("Organization", [("_lastUpdated", "ge2024-01-01T00:00:02Z")], ["gp1"]),
    ("Organization", [("_lastUpdated", "ap2024-01-01")], ["gp1", "org1"]),
    ("Organization", [("_lastUpdated", "sa2023"), ("_lastUpdated", "eb2025")], ["gp1", "org1"]),
    ("Organization", [("_lastUpdated:missing", "false")], ["gp1", "org1"]),
    ("Organization", [("_lastUpdated:missing", "true")], []),
    # reference: by id, Type/id, our full URL, :Type, :identifier, canonical, :missing
    ("CarePlan", [("subject", "http://testserver/fhir/Patient/p1")], ["cp1", "cp2"]),
    ("CarePlan", [("author", "org1")], ["cp1"]),
    ("CarePlan", [("author:Organization", "org1")], ["cp1"]),
    ("CarePlan", [("author:identifier", "123456")], ["cp4"]),
    ("CarePlan", [("author:identifier", "|123456")], []),
    ("CarePlan", [("author:identifier", f"{SOR}|")], ["cp4"]),
    ("CarePlan", [("patient:missing", "false")], ["cp1", "cp2", "cp3", "cp4"]),
    ("CarePlan", [("based-on:missing", "false")], ["cp2"]),
    ("CarePlan", [("instantiates-canonical", "http://example.dk/PlanDefinition/rehab|2.0")], []),
    ("Goal", [("patient", "Patient/p1"), ("lifecycle-status", "active")], ["g1"]),
    # uri: exact, :below and :above as path prefixes, :missing
    ("CarePlan", [("instantiates-uri", "http://example.dk/protocol/rehab")], ["cp1"]),
    ("CarePlan", [("instantiates-uri", "http://example.dk/protocol/rehab/")], []),
    ("CarePlan", [("instantiates-uri:below", "http://example.dk/protocol")], ["cp1", "cp2"]),
    ("CarePlan", [("instantiates-uri:below", "http://example.dk/protocol/rehab/")], ["cp2"]),
    (
        "CarePlan",
        [("instantiates-uri:above", "http://example.dk/protocol/rehab/v2/x")],
        ["cp1", "cp2"],
    ),
    ("CarePlan", [("instantiates-uri:above", "http://example.dk/protocol/rehab")], ["cp1"]),
    ("CarePlan", [("instantiates-uri:above", "http://example.dk/other/x")], []),
    ("CarePlan", [("instantiates-uri:missing", "true")], ["cp3", "cp4"]),
    (
        "CarePlan",
        [("_profile:above", "http://example.dk/StructureDefinition/rehab-plan/1")],
        ["cp1"],
    ),
    # several criteria AND
    ("CarePlan", [("status", "active"), ("category", REHAB), ("date", "ge2024")], ["cp1", "cp3"]),
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


async def current_resources(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The stored current versions, with meta.lastUpdated as the repository sets it."""
    query = (
        select(resource.c.last_updated, resource_version.c.content)
        .join(
            resource_version,
            (resource_version.c.res_pk == resource.c.pk)
            & (resource_version.c.version_id == resource.c.version_id),
        )
        .where(resource.c.deleted.is_(False))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {**row.content, "meta": {**row.content["meta"], "lastUpdated": format_instant(stamp)}}
        for stamp, row in ((r.last_updated, r) for r in rows)
    ]


@pytest.mark.parametrize(("rtype", "params", "expected"), CASES, ids=lambda v: str(v))
async def test_sql_and_memory_agree(
    engine: AsyncEngine,
    store: Store,
    rtype: str,
    params: list[tuple[str, str]],
    expected: list[str],
) -> None:
    await load(store)
    assert ids(await search(engine, [rtype], params)) == expected, "SQL"
    request = parse_search([rtype], params, base_url=BASE)
    resources = await current_resources(engine)
    if all(isinstance(c, Filter) for c in request.criteria_for(rtype)):
        assert sorted(r["id"] for r in search_in_memory(request, resources)) == expected, "memory"
        return
    with pytest.raises(NeedsOtherResources) as refused:
        search_in_memory(request, resources)
    assert refused.value.status == 400
    issue = refused.value.issues[0]
    assert issue.code == "not-supported"
    assert issue.expression and issue.expression[0] in (name for name, _ in params)


def test_every_parameter_type_has_both_halves() -> None:
    """A type in the registry has its in-memory module and its SQL module, and every
    defined parameter uses a registered type."""
    assert set(SEARCH_TYPES) == set(SQL_TYPES)
    used = {row[1] for rows in (COMMON, *PARAMS.values()) for row in rows}
    assert used <= set(SEARCH_TYPES)
    for name, kind in SEARCH_TYPES.items():
        assert set(kind.columns) <= set(SQL_TYPES[name].table.c.keys())
        assert "missing" in kind.modifiers
