from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.search.parse import parse_search
from app.storage.search_sql import run_search
from tests.search.conftest import BASE, KEY, Store, allow_all


async def test_smoke(engine: AsyncEngine, store: Store) -> None:
    await store.put(
        {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0505159995"}],
        }
    )
    await store.put(
        {
            "resourceType": "CarePlan",
            "id": "c1",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
        }
    )
    req = parse_search(
        ["CarePlan"],
        [
            ("patient.identifier", "urn:oid:1.2.208.176.1.2|0505159995"),
            ("status", "active"),
            ("_include", "CarePlan:patient"),
        ],
        base_url=BASE,
    )
    async with engine.connect() as conn:
        page = await run_search(conn, req, security=allow_all, cursor_key=KEY, cursor=None)
    assert [m.res_id for m in page.matches] == ["c1"]
    assert [m.res_id for m in page.includes] == ["p1"]
    assert page.total == 1
