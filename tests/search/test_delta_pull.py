"""Delta pull: `_lastUpdated=gt<T>&_sort=_lastUpdated` under concurrent and slow writers.

Pages see only rows stamped at or before the commit horizon (app/storage/horizon.py),
fixed at the first page; the next pull starts at `gt<horizon>`. Writes go through the
real unit of work, which stamps them; no reader ever waits for a settle delay, and no
entry is missed or pulled twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.policy import AccessPolicy
from app.fhir.instant import format_instant, truncate_to_millis
from app.fhir.search.parse import parse_search
from app.storage.engine import create_engine_async
from app.storage.repository import Repository, SearchLimits
from app.storage.unit_of_work import Storage
from tests.search.conftest import BASE, KEY
from tests.search.data import REHAB, SCT, careplan
from tests.support.databases import postgres_admin_url

WRITER = AccessPolicy.internal("delta-test")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
async def storage(engine: AsyncEngine) -> AsyncIterator[Storage]:
    yield Storage(engine, base_url=BASE)


def _now() -> datetime:
    return truncate_to_millis(datetime.now(UTC))


async def _write(repo: Repository, rid: str) -> None:
    content = careplan(rid, "p1", REHAB)
    await repo.create(content, resource_id=rid)


async def _pull(storage: Storage, since: datetime) -> tuple[list[str], datetime]:
    """One complete pull (every page) from `gt since`; returns what it saw and the horizon."""
    params = [
        ("category", f"{SCT}|{REHAB}"),
        ("_lastUpdated", f"gt{format_instant(since)}"),
        ("_sort", "_lastUpdated"),
        ("_count", "3"),
    ]
    request = parse_search(["CarePlan"], params, base_url=BASE)
    seen: list[str] = []
    cursor = None
    watermark = None
    while True:
        async with storage.unit_of_work(WRITER, write=False) as repo:
            page = await repo.search(request, cursor=cursor, cursor_key=KEY, limits=SearchLimits())
        seen += [m.res_id for m in page.matches]
        assert page.watermark is not None
        assert watermark in (None, page.watermark), "the horizon is fixed at the first page"
        watermark = page.watermark
        cursor = page.next_cursor
        if cursor is None:
            return seen, watermark
        await asyncio.sleep(random.uniform(0, 0.02))


async def test_delta_pull_with_concurrent_writers_misses_nothing_and_repeats_nothing(
    storage: Storage,
) -> None:
    random.seed(7)
    written: list[str] = []

    async def writer(name: str, n: int) -> None:
        for i in range(n):
            async with storage.unit_of_work(WRITER, write=True) as repo:
                await _write(repo, f"{name}{i}")
                await asyncio.sleep(random.uniform(0, 0.15))  # a slow commit
            written.append(f"{name}{i}")

    nothing, since = await _pull(storage, EPOCH)  # a client starts from its last horizon
    assert nothing == []
    writers = asyncio.gather(writer("a", 12), writer("b", 12), writer("c", 12))
    pulled: list[str] = []
    while not writers.done():
        got, since = await _pull(storage, since)
        pulled += got
        await asyncio.sleep(0.03)
    await writers
    got, since = await _pull(storage, since)  # no settle wait: everything is committed now
    pulled += got
    assert len(pulled) == len(set(pulled)), "an entry was pulled twice"
    assert sorted(pulled) == sorted(written), "an entry was missed"


async def test_a_plan_shows_up_as_soon_as_no_older_writer_is_in_flight(storage: Storage) -> None:
    _, since = await _pull(storage, EPOCH)
    async with storage.unit_of_work(WRITER, write=True) as repo:
        await _write(repo, "prompt")
    seen, _ = await _pull(storage, since)
    assert seen == ["prompt"]  # at once: no settle window


# PostgreSQL: writers run concurrently, so a younger writer can commit before an older one.
@pytest.mark.parametrize("search_db_url", ["postgres"], indirect=True)
async def test_a_slow_writer_held_open_holds_the_horizon_back_and_is_never_lost(
    storage: Storage,
) -> None:
    _, since = await _pull(storage, EPOCH)
    release = asyncio.Event()
    slow_written = asyncio.Event()

    async def slow() -> None:
        async with storage.unit_of_work(WRITER, write=True) as repo:
            await _write(repo, "slow")
            slow_written.set()
            await release.wait()  # held open while others commit and readers pull

    task = asyncio.create_task(slow())
    await slow_written.wait()
    async with storage.unit_of_work(WRITER, write=True) as repo:
        await _write(repo, "fast")  # stamped after "slow", committed before it
    first, mark = await _pull(storage, since)
    # Neither is shown: "fast" is newer than the in-flight writer's start, so showing it
    # would let the next pull (gt its stamp) skip "slow" when it commits.
    assert first == []
    assert mark < _now()
    release.set()
    await task
    second, _ = await _pull(storage, mark)
    assert second == ["slow", "fast"]  # in _lastUpdated order, each exactly once


# PostgreSQL: one database may hold several deployments (schemas); SQLite has one file each.
@pytest.mark.parametrize("search_db_url", ["postgres"], indirect=True)
async def test_the_horizon_ignores_writers_of_other_schemas(storage: Storage) -> None:
    """Only this deployment's writers hold the horizon back (application_name)."""
    other = create_engine_async(postgres_admin_url())  # schema public: another deployment
    try:
        async with other.connect() as conn, conn.begin():
            await conn.execute(text("SELECT pg_current_xact_id()"))  # an open writer
            _, since = await _pull(storage, EPOCH)
            async with storage.unit_of_work(WRITER, write=True) as repo:
                await _write(repo, "mine")
            seen, _ = await _pull(storage, since)
            assert seen == ["mine"]
    finally:
        await other.dispose()
