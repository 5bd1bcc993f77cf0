"""Index maintenance and injection safety on SQLite and PostgreSQL; the table of every
parameter type, modifier and prefix is in test_agreement.py (SQL and in-memory)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.outcome import FhirError
from tests.search.conftest import Store
from tests.search.data import REHAB, ids, load, search


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
