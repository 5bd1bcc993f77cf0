"""Danish test data for search: citizens by CPR, organisations by SOR, care plans."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.fhir.search.parse import parse_search
from app.storage.search_predicates import SecurityPredicate
from app.storage.search_sql import SearchPage, run_search
from tests.search.conftest import BASE, KEY, Store, allow_all

CPR = "urn:oid:1.2.208.176.1.2"
SOR = "urn:oid:1.2.208.176.1.1"
SCT = "http://snomed.info/sct"
REHAB = "736353004"  # genoptræningsplan
DISCHARGE = "736055001"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def patient(
    pid: str, cpr: str, family: str, given: str, birth: str, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": CPR, "value": cpr}],
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        **extra,
    }


def careplan(cid: str, pid: str, kind: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": cid,
        "status": status,
        "intent": "plan",
        "subject": {"reference": f"Patient/{pid}"},
        "category": [
            {
                "coding": [
                    {
                        "system": SCT,
                        "code": kind,
                        "display": "Genoptræningsplan" if kind == REHAB else "Udskrivningsaftale",
                    }
                ]
            }
        ],
        **extra,
    }


async def load(store: Store) -> None:
    """A small world: three citizens, organisations, plans, a goal, a condition, provenance."""
    for res in (
        {
            "resourceType": "Organization",
            "id": "org1",
            "name": "Aarhus Kommune",
            "active": True,
            "identifier": [{"system": SOR, "value": "123456"}],
            "address": [{"line": ["Rådhuspladsen 2"], "city": "Århus C", "postalCode": "8000"}],
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                            "code": "govt",
                        }
                    ]
                }
            ],
        },
        {
            "resourceType": "Organization",
            "id": "gp1",
            "name": "Lægerne Nørregade",
            "active": True,
            "identifier": [{"system": SOR, "value": "654321"}],
            "partOf": {"reference": "Organization/org1"},
        },
        {
            "resourceType": "Practitioner",
            "id": "pr1",
            "name": [{"family": "Møller", "given": ["Bodil"]}],
        },
        patient(
            "p1",
            "0505159995",
            "Sørensen",
            "Jørgen",
            "1959-05-05",
            gender="male",
            active=True,
            generalPractitioner=[{"reference": "Organization/gp1"}],
            managingOrganization={"reference": "Organization/org1"},
        ),
        patient(
            "p2",
            "1212121212",
            "Ærø",
            "Åse",
            "1985-12-12",
            gender="female",
            active=False,
            deceasedDateTime="2023-01-01T12:00:00+01:00",
        ),
        patient(
            "p3",
            "0101010101",
            "Hansen",
            "Ole",
            "2001-01-01",
            gender="male",
            meta={"tag": [{"system": "urn:test", "code": "vip"}]},
        ),
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "Gå uden stok"},
            "subject": {"reference": "Patient/p1"},
            "target": [{"dueDate": "2024-12-01"}],
        },
        {
            "resourceType": "Condition",
            "id": "cond1",
            "subject": {"reference": "Patient/p1"},
            "code": {
                "coding": [{"system": "urn:sks", "code": "DI639", "display": "Hjerneinfarkt"}]
            },
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "onsetDateTime": "2024-04-20T08:30:00+02:00",
        },
        careplan(
            "cp1",
            "p1",
            REHAB,
            period={"start": "2024-05-01", "end": "2024-08-01"},
            author={"reference": "Organization/org1"},
            goal=[{"reference": "Goal/g1"}],
            addresses=[{"reference": "Condition/cond1"}],
            identifier=[
                {
                    "system": "urn:plan",
                    "value": "cp-1",
                    "type": {"coding": [{"system": V2, "code": "FILL"}], "text": "Fyldeplan"},
                }
            ],
            instantiatesCanonical=["http://example.dk/PlanDefinition/rehab|1.0"],
            instantiatesUri=["http://example.dk/protocol/rehab"],
            activity=[
                {
                    "detail": {
                        "status": "scheduled",
                        "code": {"text": "Gangtræning"},
                        "performer": [{"reference": "Practitioner/pr1"}],
                        "scheduledPeriod": {"start": "2024-05-02T09:00:00+02:00"},
                    }
                }
            ],
            meta={
                "profile": ["http://example.dk/StructureDefinition/rehab-plan"],
                "source": "urn:system:kommune",
                "tag": [{"system": "urn:test", "code": "delta"}],
            },
        ),
        careplan(
            "cp2",
            "p1",
            DISCHARGE,
            status="completed",
            period={"start": "2023-01-01", "end": "2023-02-01"},
            basedOn=[{"reference": "CarePlan/cp1"}],
            instantiatesUri=["http://example.dk/protocol/rehab/v2"],
            title="Udskrivning",
        ),
        careplan("cp3", "p2", REHAB, period={"start": "2024-06-15T10:00:00Z"}),
        careplan(
            "cp4",
            "p3",
            REHAB,
            status="draft",
            author={"identifier": {"system": SOR, "value": "123456"}, "type": "Organization"},
        ),
        {
            "resourceType": "Provenance",
            "id": "prov1",
            "target": [{"reference": "CarePlan/cp1"}],
            "recorded": "2024-05-01T10:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/pr1"}}],
        },
    ):
        await store.put(res)


async def search(
    conn_or_engine: AsyncEngine | AsyncConnection,
    types: list[str],
    params: list[tuple[str, str]],
    *,
    security: SecurityPredicate = allow_all,
    cursor: str | None = None,
    lenient: bool = False,
    max_includes: int = 1000,
) -> SearchPage:
    request = parse_search(types, params, base_url=BASE, lenient=lenient)
    if isinstance(conn_or_engine, AsyncConnection):
        return await run_search(
            conn_or_engine,
            request,
            security=security,
            cursor_key=KEY,
            cursor=cursor,
            max_includes=max_includes,
        )
    async with conn_or_engine.connect() as conn:
        return await search(
            conn,
            types,
            params,
            security=security,
            cursor=cursor,
            lenient=lenient,
            max_includes=max_includes,
        )


def ids(page: SearchPage) -> list[str]:
    return sorted(m.res_id for m in page.matches)


def included(page: SearchPage) -> list[str]:
    return sorted(f"{m.res_type}/{m.res_id}" for m in page.includes)
