"""Result control: sort, keyset paging, cursors, totals, includes, system search, security."""

from __future__ import annotations

import pytest
from sqlalchemy import ColumnElement, FromClause, not_
from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.outcome import FhirError
from app.fhir.search.parse import parse_search
from app.storage.search_sql import find_matches, run_search
from tests.search.conftest import BASE, Store, allow_all
from tests.search.data import CPR, REHAB, careplan, ids, included, load, patient, search


async def _all_pages(
    engine: AsyncEngine, types: list[str], params: list[tuple[str, str]], **kw: object
) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await search(engine, types, params, cursor=cursor, **kw)  # type: ignore[arg-type]
        pages.append([m.res_id for m in page.matches])
        cursor = page.next_cursor
        if cursor is None:
            return pages


async def test_sort_keys_and_direction(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    page = await search(engine, ["Patient"], [("_sort", "-birthdate")])
    assert [m.res_id for m in page.matches] == ["p3", "p2", "p1"]
    page = await search(engine, ["Patient"], [("_sort", "family")])
    assert [m.res_id for m in page.matches] == ["p3", "p1", "p2"]  # hansen < sørensen < ærø
    page = await search(engine, ["CarePlan"], [("_sort", "status,-date")])
    assert [m.res_id for m in page.matches] == ["cp3", "cp1", "cp2", "cp4"]
    page = await search(engine, ["CarePlan"], [("_sort", "-_lastUpdated")])
    assert [m.res_id for m in page.matches] == ["cp4", "cp3", "cp2", "cp1"]
    page = await search(engine, ["CarePlan"], [("_sort", "author")])  # missing values sort last
    assert [m.res_id for m in page.matches] == ["cp1", "cp2", "cp3", "cp4"]  # ties by pk


@pytest.mark.parametrize("sort", ["", "status", "-date", "status,-_lastUpdated", "_id", "-family"])
async def test_keyset_paging_with_concurrent_inserts(
    engine: AsyncEngine, store: Store, sort: str
) -> None:
    for i in range(23):
        await store.put(
            careplan(
                f"c{i:02d}",
                "p1",
                REHAB,
                status=["active", "draft", "completed"][i % 3],
                period={"start": f"2024-01-{1 + i % 5:02d}"},
            )
        )
    params = [("_count", "4"), *([("_sort", sort)] if sort and "family" not in sort else [])]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await search(engine, ["CarePlan"], params, cursor=cursor)
        seen += [m.res_id for m in page.matches]
        pages += 1
        # concurrent writers insert rows that sort before and after the cursor
        await store.put(
            careplan(
                f"new{pages}",
                "p1",
                REHAB,
                status="active",
                period={"start": "2023-01-01" if pages % 2 else "2025-01-01"},
            )
        )
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert {f"c{i:02d}" for i in range(23)} <= set(seen), "a row was skipped"


async def test_previous_cursor_returns_the_previous_page(engine: AsyncEngine, store: Store) -> None:
    for i in range(10):
        await store.put(careplan(f"c{i}", "p1", REHAB))
    first = await search(engine, ["CarePlan"], [("_count", "3"), ("_sort", "-_lastUpdated")])
    assert first.prev_cursor is None
    second = await search(
        engine,
        ["CarePlan"],
        [("_count", "3"), ("_sort", "-_lastUpdated")],
        cursor=first.next_cursor,
    )
    back = await search(
        engine,
        ["CarePlan"],
        [("_count", "3"), ("_sort", "-_lastUpdated")],
        cursor=second.prev_cursor,
    )
    assert [m.res_id for m in back.matches] == [m.res_id for m in first.matches]
    assert [m.res_id for m in second.matches] == ["c6", "c5", "c4"]


async def test_tampered_or_foreign_cursor_is_400(engine: AsyncEngine, store: Store) -> None:
    for i in range(5):
        await store.put(careplan(f"c{i}", "p1", REHAB))
    page = await search(engine, ["CarePlan"], [("_count", "2")])
    assert page.next_cursor
    token = page.next_cursor
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for bad in (tampered, "garbage", token[5:]):
        with pytest.raises(FhirError) as err:
            await search(engine, ["CarePlan"], [("_count", "2")], cursor=bad)
        assert err.value.status == 400
    with pytest.raises(FhirError) as err:  # a cursor of another query
        await search(engine, ["CarePlan"], [("_count", "2"), ("status", "active")], cursor=token)
    assert err.value.status == 400
    request = parse_search(["CarePlan"], [("_count", "2")], base_url=BASE)
    async with engine.connect() as conn:  # signed with another key
        with pytest.raises(FhirError):
            await run_search(
                conn,
                request,
                security=allow_all,
                cursor_key=b"other" * 8,
                cursor=token,
                max_includes=10,
            )


async def test_totals(engine: AsyncEngine, store: Store) -> None:
    for i in range(7):
        await store.put(careplan(f"c{i}", "p1", REHAB))
    assert (await search(engine, ["CarePlan"], [("_count", "2")])).total is None  # costs a count
    assert (await search(engine, ["CarePlan"], [("_count", "10")])).total == 7  # one page: free
    assert (await search(engine, ["CarePlan"], [("_count", "2"), ("_total", "none")])).total is None
    assert (
        await search(engine, ["CarePlan"], [("_count", "2"), ("_total", "accurate")])
    ).total == 7
    assert (
        await search(engine, ["CarePlan"], [("_count", "2"), ("_total", "estimate")])
    ).total == 7
    count = await search(engine, ["CarePlan"], [("_summary", "count")])
    assert count.total == 7 and count.matches == []


async def test_total_on_later_pages_only_when_asked(engine: AsyncEngine, store: Store) -> None:
    """Pages after the first count only when the client asks for a total."""
    for i in range(5):
        await store.put(careplan(f"c{i}", "p1", REHAB))
    first = await search(engine, ["CarePlan"], [("_count", "2")])
    assert first.total is None and first.next_cursor
    second = await search(engine, ["CarePlan"], [("_count", "2")], cursor=first.next_cursor)
    assert second.total is None and len(second.matches) == 2
    asked = [("_count", "2"), ("_total", "accurate")]
    first = await search(engine, ["CarePlan"], asked)
    second = await search(engine, ["CarePlan"], asked, cursor=first.next_cursor)
    assert second.total == 5


async def test_include_revinclude_iterate_and_cap(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    page = await search(
        engine,
        ["CarePlan"],
        [("_id", "cp1"), ("_include", "CarePlan:patient"), ("_include", "CarePlan:goal")],
    )
    assert included(page) == ["Goal/g1", "Patient/p1"]
    page = await search(engine, ["CarePlan"], [("_id", "cp1"), ("_include", "CarePlan:*")])
    assert "Practitioner/pr1" in included(page) and "Condition/cond1" in included(page)
    page = await search(
        engine, ["CarePlan"], [("_id", "cp1"), ("_include", "CarePlan:subject:Group")]
    )
    assert included(page) == []
    page = await search(engine, ["Patient"], [("_id", "p1"), ("_revinclude", "CarePlan:patient")])
    assert included(page) == ["CarePlan/cp1", "CarePlan/cp2"]
    page = await search(
        engine,
        ["CarePlan"],
        [
            ("_id", "cp2"),
            ("_include", "CarePlan:patient"),
            ("_include:iterate", "Patient:general-practitioner"),
            ("_include:iterate", "Organization:partof"),
        ],
    )
    assert included(page) == ["Organization/gp1", "Organization/org1", "Patient/p1"]
    page = await search(
        engine,
        ["Patient"],
        [
            ("_id", "p1"),
            ("_revinclude", "CarePlan:patient"),
            ("_revinclude:iterate", "Provenance:target"),
        ],
    )
    assert included(page) == ["CarePlan/cp1", "CarePlan/cp2", "Provenance/prov1"]
    page = await search(
        engine, ["Patient"], [("_id", "p1"), ("_revinclude", "CarePlan:patient")], max_includes=1
    )
    assert len(page.includes) == 1 and page.include_cap_reached
    page = await search(engine, ["CarePlan"], [("patient", "p1"), ("_include", "CarePlan:patient")])
    assert included(page) == ["Patient/p1"]  # included once though two plans point to it


async def test_system_level_search(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    page = await search(engine, [], [("_type", "CarePlan,Goal"), ("patient", "p1")])
    assert sorted(f"{m.res_type}/{m.res_id}" for m in page.matches) == [
        "CarePlan/cp1",
        "CarePlan/cp2",
        "Goal/g1",
    ]
    page = await search(
        engine,
        [],
        [
            ("_type", "Organization,Practitioner"),
            ("_lastUpdated", "ge2024-01-01"),
            ("_sort", "_lastUpdated"),
        ],
    )
    assert [m.res_id for m in page.matches] == ["org1", "gp1", "pr1"]
    page = await search(engine, [], [("_tag", "urn:test|vip")])
    assert ids(page) == ["p3"]
    with pytest.raises(FhirError):  # Organization has no `patient`
        await search(engine, [], [("_type", "CarePlan,Organization"), ("patient", "p1")])


async def test_strict_and_lenient(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    with pytest.raises(FhirError) as err:
        await search(engine, ["CarePlan"], [("colour", "red"), ("status", "active")])
    assert err.value.issues[0].expression == ("colour",) and "colour" in str(err.value)
    page = await search(
        engine, ["CarePlan"], [("colour", "red"), ("status", "active")], lenient=True
    )
    assert ids(page) == ["cp1", "cp3"]
    request = parse_search(["CarePlan"], [("colour", "red")], base_url=BASE, lenient=True)
    assert request.warnings[0].severity == "warning" and request.warnings[0].expression == (
        "colour",
    )


async def test_find_matches_for_conditional_operations(engine: AsyncEngine, store: Store) -> None:
    await load(store)
    async with engine.connect() as conn:
        found = await find_matches(
            conn,
            "Patient",
            [("identifier", f"{CPR}|0505159995")],
            security=allow_all,
            base_url=BASE,
        )
        assert [rid for _, rid in found] == ["p1"]
        assert (
            len(
                await find_matches(
                    conn, "CarePlan", [("category", REHAB)], security=allow_all, base_url=BASE
                )
            )
            == 2
        )
        with pytest.raises(FhirError):
            await find_matches(
                conn, "CarePlan", [("bogus", "x")], security=allow_all, base_url=BASE
            )


# ---- the security predicate is ANDed everywhere -------------------------------------------


def hide(resource_type: str, r: FromClause, *, patient_scoped: bool = False) -> ColumnElement[bool]:
    return not_(r.c.res_id.like("hidden%"))


async def _load_hidden(store: Store) -> None:
    await load(store)
    await store.put(patient("hidden-p", "9999999999", "Skjult", "Sofie", "1990-01-01"))
    await store.put(careplan("hidden-cp", "p3", REHAB, status="on-hold"))
    await store.put(careplan("cpx", "hidden-p", REHAB))
    await store.put(
        {
            "resourceType": "Provenance",
            "id": "hidden-prov",
            "target": [{"reference": "CarePlan/cp1"}],
            "recorded": "2024-05-01T10:00:00Z",
        }
    )


async def test_security_applies_to_matches_totals_and_chains(
    engine: AsyncEngine, store: Store
) -> None:
    await _load_hidden(store)
    params = [("category", REHAB)]
    assert ids(await search(engine, ["CarePlan"], params)) == [
        "cp1",
        "cp3",
        "cp4",
        "cpx",
        "hidden-cp",
    ]
    page = await search(engine, ["CarePlan"], params, security=hide)
    assert ids(page) == ["cp1", "cp3", "cp4", "cpx"] and page.total == 4
    chain = [("patient.identifier", f"{CPR}|9999999999")]
    assert ids(await search(engine, ["CarePlan"], chain)) == ["cpx"]
    assert ids(await search(engine, ["CarePlan"], chain, security=hide)) == []
    has = [("_has:CarePlan:patient:status", "on-hold")]
    assert ids(await search(engine, ["Patient"], has)) == ["p3"]
    assert ids(await search(engine, ["Patient"], has, security=hide)) == []
    counted = await search(engine, ["CarePlan"], [*params, ("_total", "accurate")], security=hide)
    assert counted.total == 4


async def test_security_applies_to_includes(engine: AsyncEngine, store: Store) -> None:
    await _load_hidden(store)
    inc = [("_id", "cpx"), ("_include", "CarePlan:patient")]
    assert included(await search(engine, ["CarePlan"], inc)) == ["Patient/hidden-p"]
    assert included(await search(engine, ["CarePlan"], inc, security=hide)) == []
    rev = [("_id", "p3"), ("_revinclude", "CarePlan:patient")]
    assert included(await search(engine, ["Patient"], rev)) == [
        "CarePlan/cp4",
        "CarePlan/hidden-cp",
    ]
    assert included(await search(engine, ["Patient"], rev, security=hide)) == ["CarePlan/cp4"]
    rev = [("_id", "cp1"), ("_revinclude", "Provenance:target")]
    assert included(await search(engine, ["CarePlan"], rev, security=hide)) == ["Provenance/prov1"]


async def test_pages_under_the_filter_are_full(engine: AsyncEngine, store: Store) -> None:
    for i in range(20):
        await store.put(careplan(f"hidden{i}" if i % 2 else f"c{i}", "p1", REHAB))
    pages = await _all_pages(engine, ["CarePlan"], [("_count", "3")], security=hide)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert not any(rid.startswith("hidden") for p in pages for rid in p)
